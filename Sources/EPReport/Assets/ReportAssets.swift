/// The static files of every report (`assets/`): one style sheet and the pages' scripts, hand-written with no
/// third-party code, so a report needs nothing from the network.
enum ReportAssets {
    /// The files, by name under `assets/`.
    static let files: [(name: String, text: String)] = [
        ("report.css", css),
        ("common.js", commonJS),
        ("index.js", indexJS),
        ("map.js", mapJS),
        ("region.js", regionJS),
    ]
}
