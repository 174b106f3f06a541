from hotasr.cli import main

main()
