import EPCore
import EPFormats
import EPTensors
import EPTestSupport
import Foundation
import Testing

/// A folder with good and bad activation files, shared by the tests below.
struct Fixtures {
    let folder: String
    static let width = 24

    init() throws {
        folder = makeTemporaryFolder("ep-cli-inputs")
        var data = SyntheticClusters(width: Self.width, clusters: 8, noise: 0.4, offset: 1, seed: 5)
        let x = data.batch(rows: 600)
        try NPY.write(x.storage, shape: [600, Self.width], to: path("good.npy"))
        try writeHalfNPY(x.storage, rows: 600, width: Self.width, to: path("good16.npy"))
        var st = SafetensorsWriter()
        st.add("resid", dtype: .bfloat16, shape: [600, Self.width], bytes: x.storage.flatMap { v -> [UInt8] in
            let b = HalfPrecision.bfloat16Bits(from: v)
            return [UInt8(b & 0xFF), UInt8(b >> 8)]
        })
        st.add("ids", shape: [600], int64: (0..<600).map(Int64.init))
        try st.write(to: path("good.safetensors"))
        var two = SafetensorsWriter()
        two.add("a", shape: [2, 3], float32: [Float](repeating: 1, count: 6))
        two.add("b", shape: [3, 3], float32: [Float](repeating: 1, count: 9))
        two.add("c", shape: [1, 2, 3], float32: [Float](repeating: 1, count: 6))
        try two.write(to: path("two.safetensors"))

        let full = try ReadOnlyFile(path: path("good.npy")).readBytes(count: 600 * Self.width * 4 + 128, at: 0)
        try AtomicOutput.write(Array(full.prefix(1000)), to: path("truncated.npy"))
        var corrupt = full
        corrupt[2] = 0x00
        try AtomicOutput.write(corrupt, to: path("corrupt.npy"))
        let stBytes = try ReadOnlyFile(path: path("good.safetensors")).readBytes(count: 500, at: 0)
        try AtomicOutput.write(stBytes, to: path("truncated.safetensors"))
        try AtomicOutput.write(Array("{not a header".utf8), to: path("garbage.safetensors"))
        try NPY.write(x.storage.map(Double.init), shape: [600, Self.width], to: path("float64.npy"))
        try NPY.write((0..<10).map { Int32($0) }, shape: [5, 2], to: path("int32.npy"))
        try NPY.write(Array(x.storage.prefix(Self.width)), shape: [Self.width], to: path("flat.npy"))
        try NPY.write([Float](repeating: 0, count: 0), shape: [0, Self.width], to: path("empty.npy"))
        try NPY.write([Float](repeating: 1, count: 40), shape: [10, 4], to: path("narrow.npy"))
        var withNaN = x.storage
        withNaN[37 * Self.width + 5] = .nan
        try NPY.write(withNaN, shape: [600, Self.width], to: path("nan.npy"))
        var withInf = x.storage
        withInf[599 * Self.width] = -.infinity
        try NPY.write(withInf, shape: [600, Self.width], to: path("inf.npy"))
        try NPY.write([Float](repeating: 0, count: Self.width), shape: [Self.width], to: path("center.npy"))
        try NPY.write([Float](repeating: 0, count: 100 * Self.width), shape: [100, Self.width], to: path("zeros.npy"))
        try NPY.write([Float](repeating: .leastNonzeroMagnitude, count: 100 * Self.width), shape: [100, Self.width], to: path("denormal.npy"))
        var centerNaN = [Float](repeating: 0, count: Self.width)
        centerNaN[3] = .nan
        try NPY.write(centerNaN, shape: [Self.width], to: path("center-nan.npy"))
    }

    func path(_ name: String) -> String { folder + "/" + name }
}

@Suite struct CLIInputTests {
    static let fixtures = try! Fixtures()

    /// Each bad input: the arguments, what the one error line must say, and the outputs that must not appear.
    static let badInputs: [(arguments: [String], message: [String], outputs: [String])] = [
        (["build", "truncated.npy", "--percentile", "5", "-o", "d"], ["truncated.npy", "truncated"], ["d"]),
        (["build", "corrupt.npy", "--percentile", "5", "-o", "d"], ["corrupt.npy", "bad magic"], ["d"]),
        (["build", "truncated.safetensors", "--percentile", "5", "-o", "d"], ["truncated.safetensors"], ["d"]),
        (["build", "garbage.safetensors", "--percentile", "5", "-o", "d"], ["garbage.safetensors", "not a safetensors file"], ["d"]),
        (["build", "float64.npy", "--percentile", "5", "-o", "d"], ["float64.npy", "unsupported dtype '<f8'"], ["d"]),
        (["build", "int32.npy", "--percentile", "5", "-o", "d"], ["int32.npy", "unsupported dtype '<i4'"], ["d"]),
        (["build", "flat.npy", "--percentile", "5", "-o", "d"], ["flat.npy", "expected a 2-D array", "(24,)"], ["d"]),
        (["build", "two.safetensors", "--tensor", "c", "--percentile", "5", "-o", "d"], ["two.safetensors", "tensor 'c' has shape [1, 2, 3], expected 2-D"], ["d"]),
        (["build", "two.safetensors", "--percentile", "5", "-o", "d"], ["two.safetensors", "several 2-D tensors", "a F32 [2, 3]", "b F32 [3, 3]", "--tensor"], ["d"]),
        (["build", "good.npy", "narrow.npy", "--percentile", "5", "-o", "d"], ["narrow.npy", "width 4", "width 24"], ["d"]),
        (["build", "nan.npy", "--percentile", "5", "--assignments", "a.npy", "-o", "d"], ["nan.npy", "row 37", "NaN"], ["d", "a.npy"]),
        (["build", "inf.npy", "--percentile", "5", "--batch-size", "128", "--assignments", "a.npy", "-o", "d"], ["inf.npy", "row 599", "infinity"], ["d", "a.npy"]),
        (["calibrate", "nan.npy", "--percentile", "5", "-o", "c.json"], ["nan.npy", "row 37"], ["c.json"]),
        (["build", "empty.npy", "--percentile", "5", "-o", "d"], ["empty.npy", "no activation rows"], ["d"]),
        (["calibrate", "empty.npy", "--percentile", "5", "-o", "c.json"], ["empty.npy", "no activation rows"], ["c.json"]),
        (["build", "good.npy", "--center", "center.npy", "--threshold=0", "-o", "d"], ["--threshold", "in (0, 2)", "found 0.0"], ["d"]),
        (["build", "good.npy", "--center", "center.npy", "--threshold", "3", "-o", "d"], ["--threshold", "in (0, 2)", "found 3.0"], ["d"]),
        (["build", "good.npy", "--center", "center.npy", "--threshold", "2", "-o", "d"], ["--threshold", "in (0, 2)", "found 2.0"], ["d"]),
        (["build", "good.npy", "--center", "center-nan.npy", "--threshold", "0.5", "-o", "d"], ["center-nan.npy", "element 3 is not finite"], ["d"]),
        (["build", "zeros.npy", "--percentile", "5", "-o", "d"], ["zeros.npy", "row 0 has no direction", "1e-08"], ["d"]),
        (["calibrate", "zeros.npy", "--percentile", "5", "-o", "c.json"], ["zeros.npy", "row 0 has no direction"], ["c.json"]),
        (["calibrate", "denormal.npy", "--percentile", "5", "-o", "c.json"], ["denormal.npy", "row 0 has no direction"], ["c.json"]),
        (["build", "good.npy", "--center", "center.npy", "--threshold=-0.5", "-o", "d"], ["--threshold", "found -0.5"], ["d"]),
        (["build", "good.npy", "--center", "center.npy", "--threshold", "nan", "-o", "d"], ["--threshold", "found nan"], ["d"]),
        (["build", "good.npy", "--center", "narrow.npy", "--threshold", "0.5", "-o", "d"], ["narrow.npy", "expected a 1-D center"], ["d"]),
        (["build", "good.npy", "--center", "center.npy", "-o", "d"], ["--center needs --threshold"], ["d"]),
        (["build", "good.npy", "--percentile", "0", "-o", "d"], ["--percentile", "strictly between 0 and 100", "0.0"], ["d"]),
        (["build", "good.npy", "--percentile", "100", "-o", "d"], ["--percentile", "100.0"], ["d"]),
        (["calibrate", "good.npy", "--percentile", "150", "-o", "c.json"], ["--percentile", "150.0"], ["c.json"]),
        (["build", "good.npy", "--percentile", "5", "--threshold", "0.3", "-o", "d"], ["exactly one of"], ["d"]),
        (["build", "good.npy", "--percentile", "5", "--batch-size", "0", "-o", "d"], ["--batch-size", "positive"], ["d"]),
        (["calibrate", "good.npy", "--percentile", "5", "--batch-size", "100000", "-o", "c.json"], ["--batch-size", "20.0 GB", "at most 65536"], ["c.json"]),
        (["build", "missing.npy", "--percentile", "5", "-o", "d"], ["missing.npy", "cannot open"], ["d"]),
        (["build", "good.txt", "--percentile", "5", "-o", "d"], ["good.txt", "expected a .npy or .safetensors file"], ["d"]),
        (["info", "nothing"], ["nothing", "no such dictionary folder"], []),
        (["info", "good.npy"], ["good.npy", "is a file"], []),
    ]

    @Test(arguments: badInputs.indices)
    func badInputFailsCleanly(index: Int) throws {
        let (arguments, message, outputs) = Self.badInputs[index]
        let work = makeTemporaryFolder("ep-bad-input")
        for file in listing(Self.fixtures.folder) {
            try FileManager.default.createSymbolicLink(atPath: work + "/" + file, withDestinationPath: Self.fixtures.path(file))
        }
        let before = listing(work)
        let run = try ep(arguments, in: work)
        #expect(run.status != 0, "ep \(arguments.joined(separator: " ")) succeeded")
        #expect(run.errorLines.count == 1, "expected one error line, got: \(run.stderr)")
        for part in message { #expect(run.stderr.contains(part), "ep \(arguments.joined(separator: " ")): \(run.stderr) lacks '\(part)'") }
        #expect(!run.stderr.contains("Fatal error"))
        // No output, complete or partial, and no temporary sibling is left.
        #expect(listing(work) == before, "left behind: \(Set(listing(work)).subtracting(before))")
        for output in outputs { #expect(!FileManager.default.fileExists(atPath: work + "/" + output)) }
    }

    @Test func readsEveryEncodingAndAssigns() throws {
        let work = makeTemporaryFolder("ep-encodings")
        let f = Self.fixtures
        var run = try ep(["build", f.path("good.npy"), "--percentile", "5", "--batch-size", "128", "--seed", "3", "--reservoir", "-o", "d32"], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        run = try ep(["build", f.path("good16.npy"), "--percentile", "5", "--batch-size", "128", "-o", "d16"], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        run = try ep(["build", f.path("good.safetensors"), "--percentile", "5", "--batch-size", "128", "-o", "dbf"], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        run = try ep(["build", f.path("good.safetensors"), "--tensor", "resid", "--percentile", "5", "-o", "dbf2"], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(listing(work + "/d32") == ["manifest.json", "regions.safetensors", "reservoir.safetensors"])

        // Two files stream as one: the same dictionary as the single file of both halves.
        var data = SyntheticClusters(width: 8, clusters: 4, noise: 0.3, seed: 8)
        let x = data.batch(rows: 300)
        try NPY.write(x.storage, shape: [300, 8], to: work + "/all.npy")
        try NPY.write(Array(x.storage[0..<(130 * 8)]), shape: [130, 8], to: work + "/first.npy")
        try NPY.write(Array(x.storage[(130 * 8)...]), shape: [170, 8], to: work + "/second.npy")
        run = try ep(["build", "all.npy", "--percentile", "5", "--batch-size", "64", "--assignments", "all-a.npy", "-o", "all"], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        run = try ep(["build", "first.npy", "second.npy", "--percentile", "5", "--batch-size", "64", "--assignments", "parts-a.npy", "-o", "parts"], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try NPY.readIntegers(path: work + "/all-a.npy").values == NPY.readIntegers(path: work + "/parts-a.npy").values)

        // ep assign: .npz and .csv agree, and a dictionary's founders are assigned to their own regions.
        run = try ep(["assign", "all", "all.npy", "-o", "out.npz"], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        run = try ep(["assign", "all", "all.npy", "-o", "out.csv"], in: work)
        #expect(run.status == 0, "\(run.stderr)")
        let csv = try String(contentsOfFile: work + "/out.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "row,region,distance,within_threshold" && csv.count == 301)
        run = try ep(["export", "all", "--format", "npy", "-o", "all-export"], in: work)
        let founders = try NPY.readIntegers(path: work + "/all-export/exemplar_index.npy").values
        for (region, row) in founders.enumerated() {
            let fields = csv[row + 1].split(separator: ",")
            #expect(Int(fields[1]) == region && Float(fields[2])! < 1e-6 && fields[3] == "1")
        }
        #expect(FileManager.default.fileExists(atPath: work + "/out.npz"))

        // Width mismatch between a dictionary and activations.
        run = try ep(["assign", "all", f.path("good.npy"), "-o", "bad.npz"], in: work)
        #expect(run.status != 0 && run.stderr.contains("good.npy") && run.stderr.contains("width 24") && run.stderr.contains("width 8"))
        #expect(!FileManager.default.fileExists(atPath: work + "/bad.npz"))

        // ep info, as text and JSON.
        run = try ep(["info", "all"], in: work)
        #expect(run.status == 0 && run.stdout.contains("Partitions:") && run.stdout.contains("n_partitions"))
        run = try ep(["info", "all", "--json"], in: work)
        let info = try JSONFields(try JSONValue.parse(Array(run.stdout.utf8), path: "stdout"), path: "stdout")
        #expect(try info.object("metrics").integer("total_members") == 300)
        #expect(try info.object("manifest").string("format") == "exemplar-partitioning-dictionary")
    }
}
