from services.consent.bootstrap import ENTRY_POINT

ENTRY_POINT.main()
