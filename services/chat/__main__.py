from services.chat.bootstrap import ENTRY_POINT

ENTRY_POINT.main()
