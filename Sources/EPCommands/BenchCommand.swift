import ArgumentParser

/// `ep bench`: throughput measurements.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput on this machine.",
        subcommands: [BenchForwardCommand.self])
}
