import sys

if sys.argv[1:2] == ["status-token"]:
    from services.gateway.status_token import main as status_token

    sys.exit(status_token(sys.argv[2:]))

from services.gateway.bootstrap import main

main()
