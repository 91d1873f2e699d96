/// The three pages of a report. Each is a fixed shell: the data scripts fill it in the browser, putting corpus
/// text in the document as text nodes only. The content security policy lets a page run only the scripts and
/// style sheets of the report's own folder (no inline script, no network), so the report works offline and
/// markup smuggled into data could not run even if it reached the document.
enum ReportPage: String, CaseIterable {
    case index
    case map
    case region

    /// The page's file name.
    var file: String { "\(rawValue).html" }

    /// The name shown in the window title.
    private var heading: String {
        switch self {
        case .index: return "regions"
        case .map: return "map"
        case .region: return "region"
        }
    }

    /// The data scripts the page reads, in order.
    private var dataScripts: [String] {
        switch self {
        case .index, .region: return ["data/summary.js", "data/regions.js"]
        case .map: return ["data/summary.js", "data/regions.js", "data/map.js"]
        }
    }

    /// The page with `title` (HTML-escaped here).
    func html(title: String) -> String {
        let scripts = (dataScripts + ["assets/common.js", "assets/\(rawValue).js"]).map { "<script src=\"\($0)\"></script>" }
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self' file:; style-src 'self' file:; img-src 'self' file: data:">
            <title>\(htmlEscaped(title)) · \(heading)</title>
            <link rel="stylesheet" href="assets/report.css">
            </head>
            <body data-page="\(rawValue)">
            <header class="top"><a class="brand" href="index.html">\(htmlEscaped(title))</a><nav><a href="index.html" data-nav="index">Regions</a><a href="map.html" data-nav="map">Map</a></nav></header>
            <main id="main"><p class="loading">Loading…</p><noscript>This report needs JavaScript.</noscript></main>
            <div id="tooltip" class="tooltip" hidden></div>
            \(scripts.joined(separator: "\n"))
            </body>
            </html>

            """
    }
}

/// `text` with the five characters that matter in HTML text and attribute values replaced by entities.
func htmlEscaped(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
