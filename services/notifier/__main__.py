from services.notifier.bootstrap import ENTRY_POINT

ENTRY_POINT.main()
