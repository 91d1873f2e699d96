/// A reader of Python pickles (protocols 2–5) that never executes anything: it walks the opcode stream of a
/// memory-mapped file and builds a small tree of values (``PickleNode``), resolving every `GLOBAL` /
/// `STACK_GLOBAL` against an allow-list of the classes and functions an EP dictionary pickle holds
/// (``PickleCallable``). Any other callable is refused by name before anything else happens, so a pickle that would
/// run `os.system` is an error, not a program. `REDUCE`, `NEWOBJ` and `BUILD` are recorded as nodes (the callable,
/// its arguments, the state given to it) for a converter to interpret; nothing is called.
///
/// Byte payloads (`BINBYTES*`, `SHORT_BINBYTES`, `BYTEARRAY8`) are kept as byte ranges into the map, so array data
/// is copied once, when a converter reads it out. Out-of-band buffers (`NEXT_BUFFER`, `READONLY_BUFFER`),
/// persistent ids, the extension registry and the text opcodes of protocols 0–1 are refused.
///
/// Bad input ends in a ``FileFormatError`` naming the file and the byte offset of the opcode: a truncated stream,
/// a length past the end of the file, a memo index never stored, a container added to itself, a stack or mark
/// underflow, and more nodes, memo entries or marks than ``PickleLimits`` allow.
public struct PickleGraph {
    /// The file read.
    public let path: String
    /// The map the byte ranges point into; kept alive with the graph.
    public let file: MappedFile
    /// Every value made, by index; containers refer to their elements by index.
    public private(set) var nodes: [PickleNode]
    /// The value `STOP` returned.
    public let root: Int
    /// The protocol of the `PROTO` opcode (2 when the stream has none).
    public let proto: Int
    /// Where each node was made (byte offset of its opcode), for error messages.
    public private(set) var offsets: [Int]
    /// The module-qualified name each `.callable` node was spelt with (`cas.discovery.dictionary.ConceptLibrary`).
    public private(set) var callableNames: [Int: String]

    /// Reads the pickle at `path`.
    public init(path: String, limits: PickleLimits = PickleLimits()) throws {
        try self.init(file: try MappedFile(path: path), limits: limits)
    }

    /// Reads the pickle in `file`.
    public init(file: MappedFile, limits: PickleLimits = PickleLimits()) throws {
        var parser = PickleParser(file: file, limits: limits)
        try parser.run()
        path = file.path
        self.file = file
        nodes = parser.nodes
        offsets = parser.offsets
        callableNames = parser.callableNames
        root = parser.result
        proto = parser.proto
    }

    /// Node `i`.
    public subscript(_ i: Int) -> PickleNode { nodes[i] }

    /// The bytes of a range of the file.
    public func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.buffer[range])
    }

    /// An error about node `i`, naming the file and the offset the node was made at.
    public func error(_ i: Int, _ problem: String) -> FileFormatError {
        FileFormatError(path, "offset \(offsets[i]): \(problem)")
    }
}

/// Bounds on what a pickle may make, so that a hostile file cannot exhaust memory with tiny opcodes.
public struct PickleLimits: Sendable {
    /// Values made (each opcode makes at most one). 2^26 nodes take about 3 GB; a real EP dictionary of
    /// Gemma-2-2B width makes about one node per 900 bytes of pickle (7 M for 6 GB).
    public var maximumNodes = 1 << 26
    /// Memo entries.
    public var maximumMemo = 1 << 26
    /// Open marks (nested `MARK`s not yet closed).
    public var maximumMarks = 1 << 16
    /// Elements of one container made by one opcode or grown by `APPEND*` / `SETITEM*` / `ADDITEMS`.
    public var maximumContainer = 1 << 28

    public init() {}
}

/// A callable a pickle may name: the classes and functions an EP dictionary pickle uses. Everything else is
/// refused when the pickle names it.
public enum PickleCallable: String, Sendable, CaseIterable {
    /// `ep.discovery.dictionary.Dictionary` and its pre-rename name `cas.discovery.dictionary.ConceptLibrary`.
    case dictionary
    /// `ep.discovery.dictionary.Partition` and its pre-rename name `cas.discovery.dictionary.Concept`.
    case partition
    /// `numpy._core.multiarray._reconstruct` (numpy ≥ 2) or `numpy.core.multiarray._reconstruct`.
    case reconstruct
    /// `numpy.ndarray`.
    case ndarray
    /// `numpy.dtype`.
    case dtype
    /// `numpy._core.multiarray.scalar` or `numpy.core.multiarray.scalar`.
    case scalar
    /// `numpy._core.numeric._frombuffer` or `numpy.core.numeric._frombuffer` (protocol 5 arrays).
    case frombuffer
    /// `builtins.set`, `builtins.frozenset`, `builtins.bytearray` (and `__builtin__` in protocol 2).
    case set, frozenset, bytearray
    /// `_codecs.encode` (how protocol 2 writes Python 3 bytes: `encode(text, 'latin1')`).
    case codecsEncode

    /// The names each callable may appear under: module and attribute.
    public static let names: [(module: String, name: String, callable: PickleCallable)] = [
        ("ep.discovery.dictionary", "Dictionary", .dictionary),
        ("cas.discovery.dictionary", "ConceptLibrary", .dictionary),
        ("ep.discovery.dictionary", "Partition", .partition),
        ("cas.discovery.dictionary", "Concept", .partition),
        ("numpy._core.multiarray", "_reconstruct", .reconstruct),
        ("numpy.core.multiarray", "_reconstruct", .reconstruct),
        ("numpy", "ndarray", .ndarray),
        ("numpy", "dtype", .dtype),
        ("numpy._core.multiarray", "scalar", .scalar),
        ("numpy.core.multiarray", "scalar", .scalar),
        ("numpy._core.numeric", "_frombuffer", .frombuffer),
        ("numpy.core.numeric", "_frombuffer", .frombuffer),
        ("builtins", "set", .set), ("__builtin__", "set", .set),
        ("builtins", "frozenset", .frozenset), ("__builtin__", "frozenset", .frozenset),
        ("builtins", "bytearray", .bytearray), ("__builtin__", "bytearray", .bytearray),
        ("_codecs", "encode", .codecsEncode),
    ]

    /// The allowed callable named `module.name`, if any.
    public static func resolve(module: String, name: String) -> PickleCallable? {
        names.first { $0.module == module && $0.name == name }?.callable
    }

    /// The allowed names, for error messages.
    public static var allowedList: String { names.map { "\($0.module).\($0.name)" }.joined(separator: ", ") }
}

/// A value of a pickle. Containers hold node indices; lists, dicts and sets are grown in place by the opcodes that
/// fill them, so every reference to them (the stack, the memo) sees the same value.
public enum PickleNode: Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    /// Bytes (or a bytearray): a range of the file.
    case bytes(Range<Int>)
    /// Bytes made by `_codecs.encode(text, 'latin1')` (protocol 2).
    case ownedBytes([UInt8])
    case tuple([Int])
    case list([Int])
    case dict([(key: Int, value: Int)])
    case set([Int])
    /// An allowed callable (a class or function) named by `GLOBAL` / `STACK_GLOBAL`.
    case callable(PickleCallable)
    /// `callable(*args)` (`REDUCE`) or `cls.__new__(cls, *args)` (`NEWOBJ`), not called; `state` is what `BUILD`
    /// gave it (the object's `__dict__`, or `__setstate__`'s argument), if anything.
    case call(PickleCallable, args: Int, state: Int?)

    /// A short description for error messages ("a list of 3 values").
    public var kindDescription: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return "the integer \(i)"
        case .float(let d): return "the float \(d)"
        case .string(let s): return "the string \(s.count > 40 ? String(s.prefix(40)) + "…" : s)"
        case .bytes(let r): return "\(r.count) bytes"
        case .ownedBytes(let b): return "\(b.count) bytes"
        case .tuple(let t): return "a tuple of \(t.count) values"
        case .list(let l): return "a list of \(l.count) values"
        case .dict(let d): return "a dict of \(d.count) items"
        case .set(let s): return "a set of \(s.count) values"
        case .callable(let c): return "the callable \(c.rawValue)"
        case .call(let c, _, _): return "a \(c.rawValue) object"
        }
    }
}

/// The opcode interpreter behind ``PickleGraph``.
private struct PickleParser {
    let file: MappedFile
    let limits: PickleLimits
    let base: UnsafeRawPointer
    let size: Int
    var at = 0
    var opStart = 0
    var nodes: [PickleNode] = []
    var offsets: [Int] = []
    var stack: [Int] = []
    var marks: [Int] = []
    /// The memo: dense for the indices picklers write (0, 1, 2, …), a dictionary for indices far past them, so
    /// that a 5-byte `LONG_BINPUT 4000000000` costs one entry, not gigabytes.
    var memo: [Int] = []
    var sparseMemo: [UInt64: Int] = [:]
    /// Entries set, as Python's `len(memo)` (the index `MEMOIZE` uses).
    var memoEntries = 0
    var result = -1
    var proto = 2
    var callableNames: [Int: String] = [:]

    init(file: MappedFile, limits: PickleLimits) {
        self.file = file
        self.limits = limits
        base = file.bytes
        size = file.count
    }

    func fail(_ problem: String) -> FileFormatError {
        FileFormatError(file.path, "offset \(opStart): \(problem)")
    }

    mutating func byte() throws -> UInt8 {
        guard at < size else { throw fail("truncated: the pickle ends inside an opcode (\(size) bytes; no STOP)") }
        defer { at += 1 }
        return base.load(fromByteOffset: at, as: UInt8.self)
    }

    mutating func little(_ count: Int) throws -> UInt64 {
        guard count <= size - at else { throw fail("truncated: the pickle ends inside an opcode's argument (\(size) bytes)") }
        var v: UInt64 = 0
        for i in 0..<count { v |= UInt64(base.load(fromByteOffset: at + i, as: UInt8.self)) << (8 * UInt64(i)) }
        at += count
        return v
    }

    /// A length argument followed by that many bytes: the byte range.
    mutating func payload(lengthBytes: Int, what: String) throws -> Range<Int> {
        let n = try little(lengthBytes)
        guard n <= UInt64(size - at) else {
            throw fail("\(what) claims \(n) bytes but only \(size - at) remain in the file (truncated or corrupt)")
        }
        let range = at..<(at + Int(n))
        at += Int(n)
        return range
    }

    mutating func text(_ range: Range<Int>, what: String) throws -> String {
        let buffer = UnsafeBufferPointer(start: (base + range.lowerBound).assumingMemoryBound(to: UInt8.self), count: range.count)
        guard let s = String(validating: buffer, as: UTF8.self) else { throw fail("\(what) is not valid UTF-8") }
        return s
    }

    /// A text line (protocol 0 style, for `GLOBAL`), without its newline.
    mutating func line(what: String) throws -> String {
        var end = at
        while end < size, base.load(fromByteOffset: end, as: UInt8.self) != 0x0A {
            end += 1
            guard end - at <= 1024 else { throw fail("\(what) is longer than 1024 bytes") }
        }
        guard end < size else { throw fail("truncated: the pickle ends inside \(what)") }
        let s = try text(at..<end, what: what)
        at = end + 1
        return s
    }

    mutating func make(_ node: PickleNode) throws -> Int {
        guard nodes.count < limits.maximumNodes else {
            throw fail("more than \(limits.maximumNodes) values; refusing to build more (limit of the pickle reader)")
        }
        nodes.append(node)
        offsets.append(opStart)
        return nodes.count - 1
    }

    mutating func push(_ node: PickleNode) throws { stack.append(try make(node)) }

    /// Where the values above the topmost mark begin (a mark opens a fresh stack, as in Python's unpickler).
    var frameBase: Int { marks.last ?? 0 }

    mutating func pop(_ op: String) throws -> Int {
        guard stack.count > frameBase else { throw fail("\(op) on an empty stack") }
        return stack.removeLast()
    }

    /// The value on top of the stack (above the topmost mark), which an opcode modifies.
    func top(_ op: String, _ what: String) throws -> Int {
        guard stack.count > frameBase, let t = stack.last else { throw fail("\(op) without \(what) on the stack") }
        return t
    }

    /// The values above the topmost mark, and the mark removed.
    mutating func popMark(_ op: String) throws -> [Int] {
        guard let mark = marks.popLast() else { throw fail("\(op) without a MARK") }
        guard mark <= stack.count else { throw fail("\(op): the stack lost its MARK") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    mutating func checkSize(_ n: Int, _ op: String) throws {
        guard n <= limits.maximumContainer else { throw fail("\(op) makes a container of \(n) values (more than \(limits.maximumContainer))") }
    }

    /// Appends `items` to the list or set at node `target`.
    mutating func extend(_ target: Int, with items: [Int], op: String) throws {
        if items.contains(target) { throw fail("\(op) adds a container to itself (a self-referencing pickle)") }
        switch nodes[target] {
        case .list(var l):
            nodes[target] = .none
            try checkSize(l.count + items.count, op)
            l += items
            nodes[target] = .list(l)
        case .set(var s) where op == "ADDITEMS":
            nodes[target] = .none
            try checkSize(s.count + items.count, op)
            s += items
            nodes[target] = .set(s)
        default:
            throw fail("\(op) on \(nodes[target].kindDescription), expected a \(op == "ADDITEMS" ? "set" : "list")")
        }
    }

    mutating func setItems(_ target: Int, _ items: [Int], op: String) throws {
        guard items.count % 2 == 0 else { throw fail("\(op) with an odd number of values (\(items.count)) above the MARK") }
        if items.contains(target) { throw fail("\(op) puts a dict into itself (a self-referencing pickle)") }
        guard case .dict(var d) = nodes[target] else { throw fail("\(op) on \(nodes[target].kindDescription), expected a dict") }
        nodes[target] = .none
        try checkSize(d.count + items.count / 2, op)
        for i in stride(from: 0, to: items.count, by: 2) { d.append((items[i], items[i + 1])) }
        nodes[target] = .dict(d)
    }

    mutating func memoGet(_ index: UInt64, _ op: String) throws {
        if index < UInt64(memo.count), memo[Int(index)] >= 0 {
            stack.append(memo[Int(index)])
        } else if let value = sparseMemo[index] {
            stack.append(value)
        } else {
            throw fail("\(op) \(index): no such memo entry")
        }
    }

    mutating func memoPut(_ index: UInt64, _ op: String) throws {
        let top = try top(op, "a value")
        if index < UInt64(memo.count + 4096) {
            let i = Int(index)
            if i >= memo.count { memo += repeatElement(-1, count: i + 1 - memo.count) }
            if memo[i] < 0 { memoEntries += 1 }
            memo[i] = top
        } else {
            if sparseMemo.updateValue(top, forKey: index) == nil { memoEntries += 1 }
        }
        guard memoEntries <= limits.maximumMemo else { throw fail("more than \(limits.maximumMemo) memo entries (limit of the pickle reader)") }
    }

    mutating func global(module: String, name: String) throws {
        guard let callable = PickleCallable.resolve(module: module, name: name) else {
            throw fail("refuses to call \(module).\(name) (only \(PickleCallable.allowedList) are allowed); nothing was run")
        }
        try push(.callable(callable))
        callableNames[stack.last!] = "\(module).\(name)"
    }

    mutating func run() throws {
        // The opcodes are read once, front to back: pages behind the cursor leave the resident set every 64 MB.
        var released = 0
        while true {
            if at - released >= 64 << 20 {
                file.release(released..<at)
                released = at
            }
            opStart = at
            let op = try byte()
            switch op {
            case 0x80:  // PROTO
                let p = Int(try byte())
                guard (2...5).contains(p) else { throw fail("pickle protocol \(p) is not supported (expected 2 to 5)") }
                proto = p
            case 0x95:  // FRAME: a length hint; the frame must lie inside the file.
                let n = try little(8)
                guard n <= UInt64(size - at) else { throw fail("FRAME claims \(n) bytes but only \(size - at) remain in the file (truncated)") }
            case 0x2E:  // STOP
                guard stack.count == 1, marks.isEmpty else {
                    throw fail("STOP with \(stack.count) values on the stack and \(marks.count) open marks (expected exactly one value)")
                }
                result = stack[0]
                return
            case 0x28:  // MARK
                guard marks.count < limits.maximumMarks else { throw fail("more than \(limits.maximumMarks) nested MARKs") }
                marks.append(stack.count)
            case 0x30: _ = try pop("POP")
            case 0x31: _ = try popMark("POP_MARK")
            case 0x32:  // DUP
                stack.append(try top("DUP", "a value"))
            case 0x4E: try push(.none)
            case 0x88: try push(.bool(true))
            case 0x89: try push(.bool(false))
            case 0x4A: try push(.int(Int64(Int32(bitPattern: UInt32(try little(4))))))  // BININT
            case 0x4B: try push(.int(Int64(try byte())))  // BININT1
            case 0x4D: try push(.int(Int64(try little(2))))  // BININT2
            case 0x8A, 0x8B:  // LONG1, LONG4
                let range = try payload(lengthBytes: op == 0x8A ? 1 : 4, what: op == 0x8A ? "LONG1" : "LONG4")
                guard range.count <= 8 else { throw fail("integer of \(range.count) bytes does not fit 64 bits") }
                var v: UInt64 = 0
                for (i, p) in range.enumerated() { v |= UInt64(base.load(fromByteOffset: p, as: UInt8.self)) << (8 * UInt64(i)) }
                if range.count > 0, range.count < 8, base.load(fromByteOffset: range.upperBound - 1, as: UInt8.self) & 0x80 != 0 {
                    v |= ~UInt64(0) << (8 * UInt64(range.count))  // sign-extend
                }
                try push(.int(Int64(bitPattern: v)))
            case 0x47:  // BINFLOAT, big-endian
                let raw = try little(8)
                try push(.float(Double(bitPattern: raw.byteSwapped)))
            case 0x58, 0x8C, 0x8D:  // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                let name = op == 0x58 ? "BINUNICODE" : op == 0x8C ? "SHORT_BINUNICODE" : "BINUNICODE8"
                let range = try payload(lengthBytes: op == 0x58 ? 4 : op == 0x8C ? 1 : 8, what: name)
                try push(.string(try text(range, what: name)))
            case 0x42, 0x43, 0x8E, 0x96, 0x54, 0x55:  // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8, BINSTRING, SHORT_BINSTRING
                let lengthBytes = [0x42: 4, 0x43: 1, 0x8E: 8, 0x96: 8, 0x54: 4, 0x55: 1][Int(op)]!
                try push(.bytes(try payload(lengthBytes: lengthBytes, what: "a bytes opcode")))
            case 0x29: try push(.tuple([]))
            case 0x85, 0x86, 0x87:  // TUPLE1–3
                let n = Int(op - 0x84)
                guard stack.count - n >= frameBase else { throw fail("TUPLE\(n) with fewer than \(n) values on the stack") }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                try push(.tuple(items))
            case 0x74: try push(.tuple(try popMark("TUPLE")))
            case 0x5D: try push(.list([]))
            case 0x6C: try push(.list(try popMark("LIST")))
            case 0x7D: try push(.dict([]))
            case 0x64:  // DICT
                let items = try popMark("DICT")
                guard items.count % 2 == 0 else { throw fail("DICT with an odd number of values (\(items.count)) above the MARK") }
                try push(.dict(stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }))
            case 0x8F: try push(.set([]))
            case 0x91: try push(.set(try popMark("FROZENSET")))
            case 0x61:  // APPEND
                let item = try pop("APPEND")
                let target = try top("APPEND", "a list")
                try extend(target, with: [item], op: "APPEND")
            case 0x65:  // APPENDS
                let items = try popMark("APPENDS")
                let target = try top("APPENDS", "a list")
                try extend(target, with: items, op: "APPENDS")
            case 0x90:  // ADDITEMS
                let items = try popMark("ADDITEMS")
                let target = try top("ADDITEMS", "a set")
                try extend(target, with: items, op: "ADDITEMS")
            case 0x73:  // SETITEM
                let value = try pop("SETITEM"), key = try pop("SETITEM")
                let target = try top("SETITEM", "a dict")
                try setItems(target, [key, value], op: "SETITEM")
            case 0x75:  // SETITEMS
                let items = try popMark("SETITEMS")
                let target = try top("SETITEMS", "a dict")
                try setItems(target, items, op: "SETITEMS")
            case 0x94:  // MEMOIZE
                try memoPut(UInt64(memoEntries), "MEMOIZE")
            case 0x71: try memoPut(UInt64(try byte()), "BINPUT")
            case 0x72: try memoPut(try little(4), "LONG_BINPUT")
            case 0x68: try memoGet(UInt64(try byte()), "BINGET")
            case 0x6A: try memoGet(try little(4), "LONG_BINGET")
            case 0x63:  // GLOBAL
                let module = try line(what: "GLOBAL's module"), name = try line(what: "GLOBAL's name")
                try global(module: module, name: name)
            case 0x93:  // STACK_GLOBAL
                let nameNode = try pop("STACK_GLOBAL"), moduleNode = try pop("STACK_GLOBAL")
                guard case .string(let module) = nodes[moduleNode], case .string(let name) = nodes[nameNode] else {
                    throw fail("STACK_GLOBAL expects two strings, found \(nodes[moduleNode].kindDescription) and \(nodes[nameNode].kindDescription)")
                }
                try global(module: module, name: name)
            case 0x52, 0x81:  // REDUCE, NEWOBJ
                let opName = op == 0x52 ? "REDUCE" : "NEWOBJ"
                let args = try pop(opName), callableNode = try pop(opName)
                guard case .callable(let callable) = nodes[callableNode] else {
                    throw fail("\(opName) of \(nodes[callableNode].kindDescription), expected an allowed class or function")
                }
                guard case .tuple = nodes[args] else { throw fail("\(opName) with arguments \(nodes[args].kindDescription), expected a tuple") }
                try push(.call(callable, args: args, state: nil))
            case 0x92:  // NEWOBJ_EX
                let kwargs = try pop("NEWOBJ_EX"), args = try pop("NEWOBJ_EX"), callableNode = try pop("NEWOBJ_EX")
                guard case .callable(let callable) = nodes[callableNode] else {
                    throw fail("NEWOBJ_EX of \(nodes[callableNode].kindDescription), expected an allowed class")
                }
                guard case .tuple = nodes[args], case .dict(let k) = nodes[kwargs], k.isEmpty else {
                    throw fail("NEWOBJ_EX with keyword arguments is not supported")
                }
                try push(.call(callable, args: args, state: nil))
            case 0x62:  // BUILD
                let state = try pop("BUILD")
                let target = try top("BUILD", "an object")
                guard case .call(let callable, let args, let previous) = nodes[target] else {
                    throw fail("BUILD on \(nodes[target].kindDescription), expected an object made by REDUCE or NEWOBJ")
                }
                guard previous == nil else { throw fail("BUILD on a \(callable.rawValue) object that already has its state") }
                guard state != target else { throw fail("BUILD gives an object itself as its state (a self-referencing pickle)") }
                nodes[target] = .call(callable, args: args, state: state)
            case 0x97, 0x98:
                throw fail("\(op == 0x97 ? "NEXT_BUFFER" : "READONLY_BUFFER"): the pickle refers to out-of-band buffers (pickle.dumps(..., buffer_callback=...)), which a file cannot hold; re-save it without buffer_callback")
            case 0x50, 0x51:
                throw fail("\(op == 0x50 ? "PERSID" : "BINPERSID"): persistent ids are not supported (not an EP dictionary pickle)")
            case 0x82, 0x83, 0x84:
                throw fail("EXT\(op == 0x82 ? 1 : op == 0x83 ? 2 : 4): the extension registry names callables by number; refused")
            case 0x69, 0x6F:
                throw fail("\(op == 0x69 ? "INST" : "OBJ"): protocol 0/1 object construction is not supported (expected protocol 2 to 5)")
            case 0x49, 0x4C, 0x46, 0x53, 0x56, 0x70, 0x67:
                throw fail("protocol 0 text opcode '\(Character(Unicode.Scalar(op)))' is not supported (expected protocol 2 to 5)")
            default:
                throw fail("unknown opcode 0x\(String(op, radix: 16)) (not a pickle, or corrupt)")
            }
        }
    }
}

// MARK: numpy values

/// A numpy array found in a pickle: element type, shape and where its bytes are (still in the file's map).
public struct PickleArray: Sendable {
    /// The dtype's kind and size: `f4`, `f8`, `i8`, `u1`, `b1`, …
    public var dtype: String
    /// Whether elements are stored big-endian (`>`).
    public var bigEndian: Bool
    public var shape: [Int]
    /// Whether the data is in Fortran (column-major) order.
    public var fortranOrder: Bool
    /// The element bytes: a range of the file, or bytes made while reading (protocol 2's latin-1 bytes).
    public var data: PickleBytes

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// Bytes of a pickle value.
public enum PickleBytes: Sendable {
    case file(Range<Int>)
    case owned([UInt8])

    public var count: Int {
        switch self {
        case .file(let r): return r.count
        case .owned(let b): return b.count
        }
    }
}

extension PickleGraph {
    /// The integer at node `i` (a Python int, bool, or numpy integer scalar).
    public func integer(_ i: Int, what: String) throws -> Int64 {
        switch nodes[i] {
        case .int(let v): return v
        case .bool(let b): return b ? 1 : 0
        case .call(.scalar, _, _):
            let (dtype, value) = try scalar(i, what: what)
            guard let v = value.integer else { throw error(i, "\(what): expected an integer, found a numpy \(dtype) scalar") }
            return v
        default: throw error(i, "\(what): expected an integer, found \(nodes[i].kindDescription)")
        }
    }

    /// The number at node `i` (a Python float or int, or a numpy scalar).
    public func number(_ i: Int, what: String) throws -> Double {
        switch nodes[i] {
        case .float(let v): return v
        case .int(let v): return Double(v)
        case .call(.scalar, _, _):
            let (dtype, value) = try scalar(i, what: what)
            guard let v = value.double else { throw error(i, "\(what): expected a number, found a numpy \(dtype) scalar") }
            return v
        default: throw error(i, "\(what): expected a number, found \(nodes[i].kindDescription)")
        }
    }

    /// The string at node `i`.
    public func string(_ i: Int, what: String) throws -> String {
        guard case .string(let s) = nodes[i] else { throw error(i, "\(what): expected a string, found \(nodes[i].kindDescription)") }
        return s
    }

    /// The elements of the tuple or list at node `i`.
    public func sequence(_ i: Int, what: String) throws -> [Int] {
        switch nodes[i] {
        case .tuple(let t): return t
        case .list(let l): return l
        default: throw error(i, "\(what): expected a list or tuple, found \(nodes[i].kindDescription)")
        }
    }

    /// The bytes at node `i` (bytes, a bytearray, or protocol 2's `_codecs.encode(text, 'latin1')`).
    public func byteValue(_ i: Int, what: String) throws -> PickleBytes {
        switch nodes[i] {
        case .bytes(let r): return .file(r)
        case .ownedBytes(let b): return .owned(b)
        case .call(.bytearray, let args, _):
            let a = try sequence(args, what: what)
            guard a.count == 1 else { throw error(i, "\(what): bytearray() with \(a.count) arguments, expected 1") }
            return try byteValue(a[0], what: what)
        case .call(.codecsEncode, let args, _):
            let a = try sequence(args, what: what)
            guard a.count == 2, case .string(let text) = nodes[a[0]], case .string(let encoding) = nodes[a[1]], encoding == "latin1" || encoding == "latin-1" else {
                throw error(i, "\(what): _codecs.encode is allowed only as encode(text, 'latin1') (how protocol 2 writes bytes)")
            }
            var out: [UInt8] = []
            out.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else { throw error(i, "\(what): a latin-1 byte string holds the character U+\(String(scalar.value, radix: 16))") }
                out.append(UInt8(scalar.value))
            }
            return .owned(out)
        default: throw error(i, "\(what): expected bytes, found \(nodes[i].kindDescription)")
        }
    }

    /// Calls `body` with the bytes of `b`.
    public func withBytes<R>(_ b: PickleBytes, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch b {
        case .file(let r): return try body(bytes(r))
        case .owned(let o): return try o.withUnsafeBytes(body)
        }
    }

    /// The numpy dtype at node `i`: `dtype(kind_size, False, True)` with its state `(version, byteorder, …)`.
    public func dtype(_ i: Int, what: String) throws -> (name: String, bigEndian: Bool) {
        guard case .call(.dtype, let args, let state) = nodes[i] else {
            throw error(i, "\(what): expected a numpy dtype, found \(nodes[i].kindDescription)")
        }
        let a = try sequence(args, what: "\(what) dtype")
        guard let first = a.first, case .string(let name) = nodes[first] else { throw error(i, "\(what): a numpy dtype without its type name") }
        let known = ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]
        guard known.contains(name) else {
            throw error(i, "\(what): numpy dtype '\(name)' is not supported (expected one of \(known.joined(separator: ", ")))")
        }
        var bigEndian = false
        if let state {
            let s = try sequence(state, what: "\(what) dtype state")
            guard s.count >= 2, case .string(let order) = nodes[s[1]] else { throw error(state, "\(what): a numpy dtype state without its byte order") }
            switch order {
            case "<", "|", "=": bigEndian = false
            case ">": bigEndian = true
            default: throw error(state, "\(what): numpy byte order '\(order)', expected <, >, | or =")
            }
        }
        return (name, bigEndian)
    }

    /// The numpy array at node `i`: `_reconstruct(ndarray, (0,), b'b')` with its `BUILD` state
    /// `(1, shape, dtype, is_fortran, data)`, or protocol 5's `_frombuffer(buffer, dtype, shape, order)`.
    public func array(_ i: Int, what: String) throws -> PickleArray {
        func shape(_ node: Int) throws -> [Int] {
            try sequence(node, what: "\(what) shape").map { n in
                let v = try integer(n, what: "\(what) shape")
                guard v >= 0, v < 1 << 40 else { throw error(n, "\(what): array dimension \(v) out of range") }
                return Int(v)
            }
        }
        let result: PickleArray
        switch nodes[i] {
        case .call(.reconstruct, let args, let state):
            let a = try sequence(args, what: what)
            guard a.count == 3, case .callable(.ndarray) = nodes[a[0]] else {
                throw error(i, "\(what): numpy _reconstruct of something other than numpy.ndarray")
            }
            guard let state else { throw error(i, "\(what): a numpy array without its state (no BUILD)") }
            var s = try sequence(state, what: "\(what) array state")
            if s.count == 5 { s.removeFirst() }  // the version
            guard s.count == 4 else { throw error(state, "\(what): numpy array state of \(s.count) values, expected 4 or 5") }
            let (name, big) = try dtype(s[1], what: what)
            guard case .bool(let fortran) = nodes[s[2]] else { throw error(s[2], "\(what): the array's Fortran-order flag is \(nodes[s[2]].kindDescription)") }
            if case .list = nodes[s[3]] { throw error(s[3], "\(what): an object array (dtype O) is not supported") }
            result = PickleArray(dtype: name, bigEndian: big, shape: try shape(s[0]), fortranOrder: fortran, data: try byteValue(s[3], what: what))
        case .call(.frombuffer, let args, _):
            let a = try sequence(args, what: what)
            guard a.count == 4 else { throw error(i, "\(what): numpy _frombuffer with \(a.count) arguments, expected 4") }
            let (name, big) = try dtype(a[1], what: what)
            let order = try string(a[3], what: "\(what) order")
            guard order == "C" || order == "F" else { throw error(a[3], "\(what): array order '\(order)', expected C or F") }
            result = PickleArray(dtype: name, bigEndian: big, shape: try shape(a[2]), fortranOrder: order == "F", data: try byteValue(a[0], what: what))
        default:
            throw error(i, "\(what): expected a numpy array, found \(nodes[i].kindDescription)")
        }
        let size = Int(result.dtype.dropFirst())!
        let (elements, overflow) = result.shape.reduce((1, false)) { acc, n in
            let (p, o) = acc.0.multipliedReportingOverflow(by: n)
            return (p, acc.1 || o)
        }
        guard !overflow, elements <= Int.max / 8, elements * size == result.data.count else {
            throw error(i, "\(what): a \(result.dtype) array of shape \(result.shape) needs \(overflow ? "too many" : String(elements * size)) bytes but holds \(result.data.count)")
        }
        return result
    }

    /// The elements of a 1-D (or C-order) float array as `Float`: `f4` exactly, `f8` and `f2` rounded.
    public func floats(_ a: PickleArray, into out: inout [Float], what: String, at node: Int) throws {
        guard !a.fortranOrder || a.shape.filter({ $0 > 1 }).count <= 1 else { throw error(node, "\(what): a Fortran-order matrix is not supported") }
        let n = a.count
        try withBytes(a.data) { raw in
            switch a.dtype {
            case "f4" where !a.bigEndian:
                guard n > 0 else { return }
                let start = out.count
                out.append(contentsOf: repeatElement(0, count: n))
                out.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: 4 * start).copyMemory(from: raw.baseAddress!, byteCount: 4 * n) }
            case "f4":
                for j in 0..<n {
                    let bits = raw.loadUnaligned(fromByteOffset: 4 * j, as: UInt32.self)
                    out.append(Float(bitPattern: a.bigEndian ? bits.byteSwapped : bits))
                }
            case "f8":
                for j in 0..<n {
                    let bits = raw.loadUnaligned(fromByteOffset: 8 * j, as: UInt64.self)
                    out.append(Float(Double(bitPattern: a.bigEndian ? bits.byteSwapped : bits)))
                }
            case "f2":
                for j in 0..<n {
                    let bits = raw.loadUnaligned(fromByteOffset: 2 * j, as: UInt16.self)
                    out.append(Float(Float16(bitPattern: a.bigEndian ? bits.byteSwapped : bits)))
                }
            default:
                throw error(node, "\(what): expected a float array, found dtype \(a.dtype)")
            }
        }
    }

    /// A numpy scalar `scalar(dtype, bytes)` at node `i`.
    public func scalar(_ i: Int, what: String) throws -> (dtype: String, value: PickleScalar) {
        guard case .call(.scalar, let args, _) = nodes[i] else { throw error(i, "\(what): expected a numpy scalar, found \(nodes[i].kindDescription)") }
        let a = try sequence(args, what: what)
        guard a.count == 2 else { throw error(i, "\(what): numpy scalar() with \(a.count) arguments, expected 2") }
        let (name, big) = try dtype(a[0], what: what)
        let data = try byteValue(a[1], what: what)
        let size = Int(name.dropFirst())!
        guard data.count == size else { throw error(i, "\(what): a numpy \(name) scalar of \(data.count) bytes") }
        return (name, withBytes(data) { raw in
            var bits: UInt64 = 0
            for j in 0..<size { bits |= UInt64(raw[big ? size - 1 - j : j]) << (8 * UInt64(j)) }
            let kind = name.first!
            switch (kind, size) {
            case ("f", 8): return .double(Double(bitPattern: bits))
            case ("f", 4): return .double(Double(Float(bitPattern: UInt32(bits))))
            case ("f", _): return .double(Double(Float(Float16(bitPattern: UInt16(bits)))))
            case ("i", _):
                let shift = UInt64(64 - 8 * size)
                return .integer(Int64(bitPattern: bits << shift) >> Int64(shift))
            case ("u", 8) where bits > UInt64(Int64.max): return .double(Double(bits))
            default: return .integer(Int64(bits))
            }
        })
    }
}

/// The value of a numpy scalar.
public enum PickleScalar: Sendable {
    case integer(Int64)
    case double(Double)

    public var integer: Int64? { if case .integer(let v) = self { return v } else { return nil } }
    public var double: Double? {
        switch self {
        case .integer(let v): return Double(v)
        case .double(let v): return v
        }
    }
}
