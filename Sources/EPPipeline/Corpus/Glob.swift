/// A shell-style path pattern for selecting corpus files inside a folder.
///
/// `*` matches any run of characters except `/`, `?` one character except `/`, `[abc]`/`[a-z]`/`[!abc]` a class,
/// and `**` any number of whole path components (`**/*.py` matches `a.py` and `x/y/a.py`). A pattern without a `/`
/// is matched against the file name alone (`*.txt`), as `.gitignore` does; otherwise against the path relative to
/// the corpus folder.
public struct Glob: Sendable, CustomStringConvertible, Codable {
    /// The pattern as written.
    public let pattern: String
    private let components: [String]
    private let matchesNameOnly: Bool

    /// Compiles `pattern`; an empty pattern is an error.
    public init(_ pattern: String) throws {
        guard !pattern.isEmpty else { throw PipelineError("an empty glob pattern matches nothing; give a pattern such as '*.txt'") }
        self.pattern = pattern
        var trimmed = Substring(pattern)
        while trimmed.hasPrefix("./") { trimmed = trimmed.dropFirst(2) }
        matchesNameOnly = !trimmed.contains("/")
        components = trimmed.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    public var description: String { pattern }

    /// A glob is read and written as its pattern.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        do {
            try self.init(try c.decode(String.self))
        } catch let error as PipelineError {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: error.message)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(pattern)
    }

    /// Whether `relativePath` (components separated by `/`) matches.
    public func matches(_ relativePath: String) -> Bool {
        let parts = relativePath.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if matchesNameOnly, let name = parts.last {
            return Self.match(Array(components[0].unicodeScalars), Array(name.unicodeScalars))
        }
        return matchComponents(components[...], parts[...])
    }

    private func matchComponents(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        guard let first = pattern.first else { return path.isEmpty }
        if first == "**" {
            let rest = pattern.dropFirst()
            var remaining = path
            while true {
                if matchComponents(rest, remaining) { return true }
                guard !remaining.isEmpty else { return false }
                remaining = remaining.dropFirst()
            }
        }
        guard let head = path.first else { return false }
        return Self.match(Array(first.unicodeScalars), Array(head.unicodeScalars))
            && matchComponents(pattern.dropFirst(), path.dropFirst())
    }

    /// Matches one path component against one pattern component (no `/` on either side).
    static func match(_ p: [Unicode.Scalar], _ s: [Unicode.Scalar]) -> Bool {
        var pi = 0, si = 0
        var starP = -1, starS = 0
        while si < s.count {
            if pi < p.count {
                switch p[pi] {
                case "*":
                    starP = pi
                    starS = si
                    pi += 1
                    continue
                case "?":
                    pi += 1
                    si += 1
                    continue
                case "[":
                    if let (matched, next) = matchClass(p, pi, s[si]) {
                        if matched {
                            pi = next
                            si += 1
                            continue
                        }
                    } else if p[pi] == s[si] {
                        pi += 1
                        si += 1
                        continue
                    }
                default:
                    if p[pi] == s[si] {
                        pi += 1
                        si += 1
                        continue
                    }
                }
            }
            guard starP >= 0 else { return false }
            pi = starP + 1
            starS += 1
            si = starS
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    /// Matches a `[...]` class starting at `p[start]`; nil when the bracket is not closed (then it is literal).
    private static func matchClass(_ p: [Unicode.Scalar], _ start: Int, _ c: Unicode.Scalar) -> (Bool, Int)? {
        var i = start + 1
        var negate = false
        if i < p.count, p[i] == "!" || p[i] == "^" { negate = true; i += 1 }
        var matched = false
        var first = true
        while i < p.count, p[i] != "]" || first {
            first = false
            if i + 2 < p.count, p[i + 1] == "-", p[i + 2] != "]" {
                if p[i].value <= c.value && c.value <= p[i + 2].value { matched = true }
                i += 3
            } else {
                if p[i] == c { matched = true }
                i += 1
            }
        }
        guard i < p.count else { return nil }
        return (matched != negate, i + 1)
    }
}
