import ArgumentParser

/// `ep model`: inspect model files.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Inspect a model file.",
        subcommands: [ModelInfoCommand.self])
}
