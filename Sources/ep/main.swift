import EPCommands
import EPTensors

BLASKernelChoice.relaunchWithPreferredKernelsIfNeeded(arguments: CommandLine.arguments)
EPCommand.main()
