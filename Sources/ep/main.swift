import EPCommands

EPCommand.main()
