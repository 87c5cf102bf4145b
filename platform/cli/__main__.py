from plexus.platform.cli import main

main()
