from services.launcher import main

main()
