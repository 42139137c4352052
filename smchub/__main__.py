from smchub.app import main

main()
