from qlora_check.cli import main

main()
