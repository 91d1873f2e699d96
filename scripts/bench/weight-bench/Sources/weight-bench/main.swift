import EPRuntime
import EPTensors
import Foundation

/// weight-bench MODEL (prefill | generate) [--layer L] [--windows W] [--length T] [--repeats R] [--steps S]
///   [--storage automatic|mapped|decoded] [--threads N]
///
/// prefill: W windows of T seeded random token ids per call, early exit at blocks.L.hook_resid_post; one untimed
/// call, then R timed ones. generate: a 16-token prompt, then S single-token steps with the last position's logits
/// (every block and the LM head run). Prints load time, each timing and the median, and the process's memory
/// (/proc/self/status: peak resident, and resident file-backed vs anonymous at the end).
func main() throws {
    // As `ep` does: OpenBLAS's best kernels for this CPU when it picked generic ones.
    BLASKernelChoice.relaunchWithPreferredKernelsIfNeeded(arguments: CommandLine.arguments)
    var arguments = Array(CommandLine.arguments.dropFirst())
    guard arguments.count >= 2 else {
        print("usage: weight-bench MODEL (prefill | generate) [--layer L] [--windows W] [--length T] [--repeats R] [--steps S] [--storage automatic|mapped|decoded] [--threads N]")
        exit(2)
    }
    let path = arguments.removeFirst(), mode = arguments.removeFirst()
    var options: [String: String] = [:]
    while arguments.count >= 2 { options[arguments.removeFirst()] = arguments.removeFirst() }
    func integer(_ name: String, _ fallback: Int) -> Int { options[name].flatMap(Int.init) ?? fallback }
    let storage: WeightStorage = ["mapped": .mapped, "decoded": .decoded][options["--storage"] ?? ""] ?? .automatic
    let threads = options["--threads"].flatMap(Int.init)

    let loadStart = Date()
    let model = try LanguageModel(path: path, threads: threads, storage: storage)
    let c = model.config
    print("model \(path): \(c.architecture.rawValue), \(c.layerCount) blocks, width \(c.modelWidth), vocabulary \(c.vocabularySize); storage \(options["--storage"] ?? "automatic"), \(model.threadCount) threads; loaded in \(String(format: "%.2f", Date().timeIntervalSince(loadStart))) s; BLAS \(BLAS.implementationName)")
    printMemory("after load")

    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func nextToken() -> Int32 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int32(100 + Int((state >> 33) % UInt64(min(c.vocabularySize, 40_000) - 100)))
    }
    var seconds: [Double] = []
    switch mode {
    case "prefill":
        let layer = integer("--layer", c.layerCount / 2), windows = integer("--windows", 16), length = integer("--length", 128)
        let batch = (0..<windows).map { _ in (0..<length).map { _ in nextToken() } }
        let point = HookPoint.residPost(layer: layer)
        var result = ForwardResult()
        var cpuSeconds: [Double] = []
        for i in 0...integer("--repeats", 3) {
            let start = Date(), cpuStart = processCPUSeconds()
            try model.forward(batch, hooks: Hooks(captures: [point]), into: &result)
            let s = Date().timeIntervalSince(start), cpu = processCPUSeconds() - cpuStart
            if i > 0 { seconds.append(s); cpuSeconds.append(cpu) }
            print(String(format: "  call %d%@: %.2f s, %.1f tokens/s; %.2f CPU-s, %.1f tokens per CPU-s", i, i == 0 ? " (warm-up)" : "", s,
                         Double(windows * length) / s, cpu, Double(windows * length) / cpu))
        }
        let median = seconds.sorted()[seconds.count / 2], cpuMedian = cpuSeconds.sorted()[cpuSeconds.count / 2]
        print(String(format: "prefill %d × %d tokens, early exit at %@: median %.2f s = %.1f tokens/s; median %.2f CPU-s = %.1f tokens per CPU-s",
                     windows, length, point.name, median, Double(windows * length) / median, cpuMedian, Double(windows * length) / cpuMedian))
    case "generate":
        let session = InferenceSession(model: model)
        var token = nextToken()
        _ = try session.append((0..<16).map { _ in nextToken() })
        var cpuSeconds: [Double] = []
        for _ in 0..<integer("--steps", 16) {
            let start = Date(), cpuStart = processCPUSeconds()
            let logits = try session.append([token]).logits!
            seconds.append(Date().timeIntervalSince(start))
            cpuSeconds.append(processCPUSeconds() - cpuStart)
            token = Int32(logits.storage.indices.max { logits.storage[$0] < logits.storage[$1] }!)
        }
        let median = seconds.sorted()[seconds.count / 2], cpuMedian = cpuSeconds.sorted()[cpuSeconds.count / 2]
        print(String(format: "generate %d steps: median %.1f ms/token = %.2f tokens/s (first %.1f ms); median %.1f CPU-ms/token", seconds.count,
                     1000 * median, 1 / median, 1000 * seconds[0], 1000 * cpuMedian))
    case "decode":
        // Every matrix of a GGUF file converted to fp32, 8 MB of output at a time into one buffer (as the tiles
        // of a product are): nanoseconds per weight by type.
        let gguf = try GGUFFile(path: path)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 2 << 20)
        var totals: [String: (elements: Int, seconds: Double)] = [:]
        for _ in 0..<integer("--repeats", 3) {
            for t in gguf.tensors where t.dimensions.count == 2 {
                let rowBytes = t.rowLength / t.type.blockSize * t.type.blockBytes
                let chunk = max(1, (2 << 20) / t.rowLength)
                let start = processCPUSeconds()
                var row = 0
                while row < t.rowCount {
                    let n = min(chunk, t.rowCount - row)
                    Dequantize.decode(t.type, from: gguf.file.bytes + t.offset + row * rowBytes, count: n * t.rowLength, into: buffer)
                    row += n
                }
                let entry = totals[t.type.description] ?? (0, 0)
                totals[t.type.description] = (entry.elements + t.elementCount, entry.seconds + processCPUSeconds() - start)
            }
        }
        for (type, total) in totals.sorted(by: { $0.key < $1.key }) {
            print(String(format: "decode %@: %.3f CPU-ns per weight (%.2f G weights per CPU-s)", type, 1e9 * total.seconds / Double(total.elements), Double(total.elements) / total.seconds / 1e9))
        }
    default:
        print("unknown mode \(mode) (prefill, generate or decode)")
        exit(2)
    }
    printMemory("at the end")
}

/// User and system CPU time of the process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// VmHWM, VmRSS, RssAnon and RssFile of /proc/self/status, in MB.
func printMemory(_ label: String) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return }
    var values: [String: Double] = [:]
    for line in status.split(separator: "\n") {
        let parts = line.split(separator: ":")
        guard parts.count == 2, ["VmHWM", "VmRSS", "RssAnon", "RssFile"].contains(String(parts[0])) else { continue }
        values[String(parts[0])] = (parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Double($0) } ?? 0) / 1024
    }
    print(String(format: "memory %@: peak resident %.0f MB; resident %.0f MB (%.0f MB anonymous, %.0f MB file-backed)", label,
                 values["VmHWM"] ?? 0, values["VmRSS"] ?? 0, values["RssAnon"] ?? 0, values["RssFile"] ?? 0))
}

try main()
