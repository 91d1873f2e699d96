import ArgumentParser

/// `ep bench …`: throughput measurements of the parts of a pipeline.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the throughput of pipeline parts on this machine.",
        subcommands: [BenchTokenizeCommand.self])
}
