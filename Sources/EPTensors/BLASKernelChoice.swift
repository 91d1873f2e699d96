#if canImport(Glibc)
import Glibc
#endif
import Foundation

#if !canImport(Accelerate)
import COpenBLAS
#endif

/// OpenBLAS picks its kernels from the CPU model at load time. A release older than the CPU (Debian 12's 0.3.21
/// on an Emerald Rapids Xeon, say) does not recognise it and falls back to its generic `Prescott` SSE3 kernels,
/// which run GEMMs 2–3× slower than the AVX2 or AVX-512 kernels the CPU can run. ``preferredCoreType`` names the
/// kernels the CPU's features allow; ``relaunchWithPreferredKernelsIfNeeded(arguments:)`` restarts the process
/// with `OPENBLAS_CORETYPE` set to them when OpenBLAS chose a generic core. A user's own `OPENBLAS_CORETYPE` is
/// always left alone.
///
/// On AMD's Zen 4 (family 25 with AVX-512) the library picks its AVX-512 `Cooperlake`/`SkylakeX` kernels, but Zen 4
/// executes 512-bit instructions as two 256-bit halves, and the AVX2 `Zen` kernels are faster there: on 2 vCPUs of
/// a Zen 4 EPYC, single-threaded sgemm 512×2304·2304×1820 ran at 107 against 104 GFLOP/s, 512×9216·9216×455 at
/// 104 against 97, and `ep bench forward` on a Gemma-2-2B-shaped folder at 94 against 90 tokens/s (SmolLM2: 1,624
/// against 1,558). So there the choice replaces the library's with `Zen` too.
public enum BLASKernelChoice {
    /// OpenBLAS cores that use AVX2 and FMA or better: a library that picked one of these knows the CPU.
    static let capableCores: Set<String> = [
        "Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen", "Excavator", "Steamroller", "Piledriver", "Bulldozer",
    ]

    /// What `/proc/cpuinfo` says about the first processor.
    public struct CPU: Sendable, Equatable {
        /// `vendor_id`, e.g. `AuthenticAMD` or `GenuineIntel`.
        public var vendor: String?
        /// `cpu family` (25 for AMD's Zen 3 and Zen 4).
        public var family: Int?
        /// `flags`.
        public var flags: Set<String>

        public init(vendor: String? = nil, family: Int? = nil, flags: Set<String>) {
            self.vendor = vendor
            self.family = family
            self.flags = flags
        }

        /// Whether this is an AMD Zen 4: family 25 (Zen 3 and 4) with AVX-512 (Zen 3 has none).
        var isZen4: Bool { vendor == "AuthenticAMD" && family == 25 && flags.contains("avx512f") }
    }

    /// The OpenBLAS core type this CPU's features allow (`Zen` on AMD Zen 4, `Cooperlake` with AVX-512 BF16,
    /// `SkylakeX` with AVX-512 F/BW/DQ/VL, `Haswell` with AVX2 and FMA), or nil (unknown features, or not x86-64
    /// Linux).
    public static func preferredCoreType(cpu: CPU? = nil) -> String? {
        guard let cpu = cpu ?? Self.cpu() else { return nil }
        let flags = cpu.flags
        if cpu.isZen4 { return "Zen" }
        let avx512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
        if avx512 && flags.contains("avx512_bf16") { return "Cooperlake" }
        if avx512 { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// The preferred core type of a CPU with these features and an unknown vendor.
    public static func preferredCoreType(cpuFlags: Set<String>) -> String? { preferredCoreType(cpu: CPU(flags: cpuFlags)) }

    /// The core type to relaunch with when OpenBLAS chose `chosen` on `cpu`, or nil to keep the library's choice:
    /// the preferred core when the library fell back to a generic one, or on Zen 4 when it chose another.
    static func replacement(for chosen: String, cpu: CPU) -> String? {
        guard let preferred = preferredCoreType(cpu: cpu), preferred != chosen else { return nil }
        return !capableCores.contains(chosen) || cpu.isZen4 ? preferred : nil
    }

    /// The kernels OpenBLAS chose (`openblas_get_corename`), or nil for other BLAS libraries.
    public static var chosenCore: String? {
        #if canImport(Accelerate)
        return nil
        #else
        return openblas_get_corename().map { String(cString: $0) }
        #endif
    }

    /// When OpenBLAS chose kernels ``replacement(for:cpu:)`` replaces, and neither the user nor an earlier launch
    /// set `OPENBLAS_CORETYPE`, sets it and replaces the process with a fresh run of the same executable and
    /// `arguments` (so OpenBLAS reads it at load). Returns when there is nothing to do or the relaunch fails. Call
    /// it first thing in `main`, before any thread starts.
    public static func relaunchWithPreferredKernelsIfNeeded(arguments: [String]) {
        #if os(Linux) && !canImport(Accelerate)
        guard getenv("OPENBLAS_CORETYPE") == nil, let core = chosenCore, let cpu = cpu(),
            let preferred = replacement(for: core, cpu: cpu)
        else { return }
        setenv("OPENBLAS_CORETYPE", preferred, 1)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", argv)
        // execv returned: it failed; carry on with the kernels OpenBLAS chose.
        unsetenv("OPENBLAS_CORETYPE")
        #endif
    }

    /// The vendor, family and flags of the first processor in `/proc/cpuinfo`, or nil where there is none.
    static func cpu() -> CPU? {
        guard let file = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var vendor: String?, family: Int?
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            guard let colon = text.firstIndex(of: ":") else { continue }
            let key = text[..<colon].trimmingCharacters(in: .whitespaces)
            let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            switch key {
            case "vendor_id": vendor = value
            case "cpu family": family = Int(value)
            case "flags": return CPU(vendor: vendor, family: family, flags: Set(value.split(separator: " ").map(String.init)))
            default: break
            }
        }
        return nil
    }
}
