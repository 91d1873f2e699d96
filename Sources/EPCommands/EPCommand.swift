import ArgumentParser
import EPCore

/// The `ep` command: Exemplar Partitioning feature dictionaries from language-model activations.
///
/// Each verb lives in its own file and is a thin layer over the library modules: it parses arguments, calls one
/// library entry point and prints the result.
public struct EPCommand: ParsableCommand {
    public static let toolVersion = EPVersion.current

    public static let configuration = CommandConfiguration(
        commandName: "ep",
        abstract: "Build and use Exemplar Partitioning feature dictionaries from language-model activations.",
        version: toolVersion,
        subcommands: registeredSubcommands
    )

    /// Every verb of `ep`, in the order `ep --help` lists them.
    static let registeredSubcommands: [ParsableCommand.Type] = [
        Calibrate.self,
        Build.self,
        Info.self,
        Inspect.self,
        Report.self,
        Serve.self,
        Steer.self,
        Ablate.self,
        Match.self,
        Coverage.self,
        Eval.self,
        Encode.self,
        Decode.self,
        Assign.self,
        Export.self,
        Import.self,
        Bench.self,
        Tokenize.self,
        Model.self,
        Activations.self,
        Generate.self,
        Shards.self,
        Slurm.self,
    ]

    public init() {}
}
