#if canImport(Glibc)
import Glibc
#endif

#if !canImport(Accelerate)
import COpenBLAS
#endif

/// OpenBLAS picks its kernels from the CPU model at load time. A release older than the CPU (Debian 12's 0.3.21
/// on an Emerald Rapids Xeon, say) does not recognise it and falls back to its generic `Prescott` SSE3 kernels,
/// which run GEMMs 2–3× slower than the AVX2 or AVX-512 kernels the CPU can run. ``preferredCoreType`` names the
/// kernels the CPU's features allow; ``relaunchWithPreferredKernelsIfNeeded(arguments:)`` restarts the process
/// with `OPENBLAS_CORETYPE` set to them when OpenBLAS chose a generic core. A user's own `OPENBLAS_CORETYPE` is
/// always left alone.
public enum BLASKernelChoice {
    /// OpenBLAS cores that use AVX2 and FMA or better: a library that picked one of these knows the CPU.
    static let capableCores: Set<String> = [
        "Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen", "Excavator", "Steamroller", "Piledriver", "Bulldozer",
    ]

    /// The OpenBLAS core type this CPU's features allow (`Cooperlake` with AVX-512 BF16, `SkylakeX` with
    /// AVX-512 F/BW/DQ/VL, `Haswell` with AVX2 and FMA), or nil (unknown features, or not x86-64 Linux).
    public static func preferredCoreType(cpuFlags: Set<String>? = nil) -> String? {
        guard let flags = cpuFlags ?? Self.cpuFlags() else { return nil }
        let avx512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
        if avx512 && flags.contains("avx512_bf16") { return "Cooperlake" }
        if avx512 { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// The kernels OpenBLAS chose (`openblas_get_corename`), or nil for other BLAS libraries.
    public static var chosenCore: String? {
        #if canImport(Accelerate)
        return nil
        #else
        return openblas_get_corename().map { String(cString: $0) }
        #endif
    }

    /// When OpenBLAS chose generic kernels although the CPU can run better ones, and neither the user nor an
    /// earlier launch set `OPENBLAS_CORETYPE`, sets it and replaces the process with a fresh run of the same
    /// executable and `arguments` (so OpenBLAS reads it at load). Returns when there is nothing to do or the
    /// relaunch fails. Call it first thing in `main`, before any thread starts.
    public static func relaunchWithPreferredKernelsIfNeeded(arguments: [String]) {
        #if os(Linux) && !canImport(Accelerate)
        guard getenv("OPENBLAS_CORETYPE") == nil, let core = chosenCore, !capableCores.contains(core),
            let preferred = preferredCoreType()
        else { return }
        setenv("OPENBLAS_CORETYPE", preferred, 1)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", argv)
        // execv returned: it failed; carry on with the kernels OpenBLAS chose.
        unsetenv("OPENBLAS_CORETYPE")
        #endif
    }

    /// The `flags` of the first processor in `/proc/cpuinfo`, or nil where there is none.
    static func cpuFlags() -> Set<String>? {
        guard let file = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            guard text.hasPrefix("flags"), let colon = text.firstIndex(of: ":") else { continue }
            return Set(text[text.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        }
        return nil
    }
}
