import ArgumentParser
import EPCore
import EPFormats
import EPStore

/// `ep import`: one of the authors' pickled EP dictionaries as an ep dictionary, without running the pickle.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import one of the authors' pickled EP dictionaries (.pkl) without executing it.",
        discussion: """
            Reads the pickle's opcodes over a memory map and builds only what an EP dictionary pickle holds: the \
            authors' Dictionary and Partition (ep.discovery.dictionary, or the pre-rename \
            cas.discovery.dictionary ConceptLibrary and Concept), numpy arrays, dtypes and scalars, and builtin \
            containers. Any other callable (os.system, …) is refused by name and nothing is run. Center, θ, exemplar \
            and mean directions, counts, coherences and distance sums carry over exactly; the closest and farthest \
            prompts become the dictionary's contexts (shown as text by ep inspect and ep report without a model); \
            the stored member vectors become the reservoir unless --no-reservoir. --metadata reads the JSON the \
            authors' build script writes beside the pickle (percentile, batch size, activation count, seed). The \
            manifest records the pickle's SHA-256. See docs/import.md.
            """)

    @Argument(help: "The pickle (.pkl).")
    var pickle: String

    @Option(help: "The metadata JSON written beside the pickle (NAME_metadata.json).")
    var metadata: String?

    @Option(help: "Model the pickled dictionary's activations came from (recorded as provenance), e.g. gemma-2-2b.")
    var model: String?

    @Option(help: "Hook its activations came from (recorded as provenance; an SAELens export needs it), e.g. blocks.12.hook_resid_post.")
    var hook: String?

    @Flag(help: "Leave out the stored member vectors (the reservoir).")
    var noReservoir = false

    @Option(name: [.short, .customLong("output")], help: "Dictionary folder to write (replaced atomically).")
    var output: String

    func run() throws {
        try claimOutput(output, DictionaryStore.outputKind, inputs: [pickle] + (metadata.map { [$0] } ?? []))
        let s = try PickleImport.run(pickle: pickle, metadata: metadata, reservoir: !noReservoir, model: model, hook: hook, to: output)
        let p = s.provenance
        print("\(pickle): \(p.pickledClass), pickle protocol \(p.pickleProtocol), SHA-256 \(p.sha256)")
        print("\(grouped(s.regions)) regions · width \(s.width) · θ = \(s.threshold) · \(grouped(s.prompts)) prompts · \(noReservoir ? "reservoir dropped" : "\(grouped(s.reservoirSamples)) reservoir vectors") → \(output)")
    }
}
