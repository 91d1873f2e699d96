import ArgumentParser

/// `ep model`: inspect model files.
struct Model: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Inspect a model file.",
        subcommands: [ModelInfo.self])
}
