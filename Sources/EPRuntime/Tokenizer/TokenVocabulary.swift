/// What both tokenizer families keep of their vocabulary for decoding and lookups: every entry as written in the
/// model, its type, and the bytes it stands for (how an entry becomes bytes is the family's: byte-level BPE maps
/// characters back to bytes, SentencePiece reads `▁` as a space and `<0xXX>` as a byte).
struct TokenVocabulary: Sendable {
    /// The entries as written in the model (`Ġworld`, `▁world`).
    let pieces: [String]
    /// The type of each entry.
    let types: [TokenType]
    /// The bytes each entry stands for: `bytes[offsets[id]..<offsets[id + 1]]`.
    private let bytes: [UInt8]
    private let offsets: [Int]

    /// The vocabulary of `pieces` and `types`, entry `id` standing for `decoded(id, piece)`.
    init(pieces: [String], types: [TokenType], decoded: (Int, String) -> [UInt8]) {
        var bytes: [UInt8] = []
        var offsets = [0]
        offsets.reserveCapacity(pieces.count + 1)
        for (id, piece) in pieces.enumerated() {
            bytes.append(contentsOf: decoded(id, piece))
            offsets.append(bytes.count)
        }
        self.pieces = pieces
        self.types = types
        self.bytes = bytes
        self.offsets = offsets
    }

    /// Whether `id` is an entry of the vocabulary.
    func contains(_ id: Int32) -> Bool { id >= 0 && Int(id) < pieces.count }

    /// The bytes entry `id` stands for, or nil for an id outside the vocabulary.
    func bytes(of id: Int32) -> [UInt8]? {
        contains(id) ? Array(bytes[offsets[Int(id)]..<offsets[Int(id) + 1]]) : nil
    }

    /// The entry `id` as written in the model, or nil for an id outside the vocabulary.
    func piece(_ id: Int32) -> String? { contains(id) ? pieces[Int(id)] : nil }

    /// The type of entry `id`, or nil for an id outside the vocabulary.
    func type(_ id: Int32) -> TokenType? { contains(id) ? types[Int(id)] : nil }

    /// The bytes of `ids` in order, U+FFFD for an id outside the vocabulary.
    func decodedBytes(_ ids: [Int32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids {
            if contains(id) {
                out.append(contentsOf: bytes[offsets[Int(id)]..<offsets[Int(id) + 1]])
            } else {
                out.append(contentsOf: [0xEF, 0xBF, 0xBD])
            }
        }
        return out
    }
}
