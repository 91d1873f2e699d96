/// The version of the ExemplarPartitioning package, written into every file it produces.
public enum EPVersion {
    /// The tool and library version.
    public static let current = "0.1.0"
}
