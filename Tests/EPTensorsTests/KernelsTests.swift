import Testing
@testable import EPTensors

@Suite struct KernelsTests {
    @Test func dotMatchesScalarLoop() {
        for n in [0, 1, 15, 16, 17, 63, 64, 65, 576, 2304] {
            let a = (0..<n).map { Float(($0 * 37) % 11) - 5 }
            let b = (0..<n).map { Float(($0 * 13) % 7) * 0.5 }
            let expected = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let got = Kernels.dot(a, b, count: n)
            #expect(abs(Double(got) - expected) <= 1e-4 * max(1, abs(expected)))
            #expect(abs(Kernels.dotDouble(a, b, count: n) - expected) <= 1e-9 * max(1, abs(expected)))
        }
    }

    @Test func allFiniteDetectsNaNAndInfinity() {
        var v = [Float](repeating: 1, count: 100)
        #expect(Kernels.allFinite(v, count: v.count))
        v[99] = .nan
        #expect(!Kernels.allFinite(v, count: v.count))
        v[99] = 1; v[3] = -.infinity
        #expect(!Kernels.allFinite(v, count: v.count))
    }

    @Test func axpyScaleSubtract() {
        let x: [Float] = (0..<37).map(Float.init)
        var y = [Float](repeating: 1, count: 37)
        Kernels.axpy(2, x, &y, count: 37)
        #expect(y == x.map { 1 + 2 * $0 })
        Kernels.scale(&y, by: 0.5, count: 37)
        #expect(y == x.map { (1 + 2 * $0) * 0.5 })
        var d = [Float](repeating: 0, count: 37)
        Kernels.subtract(y, x, into: &d, count: 37)
        #expect(d == (0..<37).map { _ in Float(0.5) })
    }

    @Test func gemmAgainstNaiveProduct() {
        let m = 5, n = 7, k = 9
        let a = (0..<(m * k)).map { Float($0 % 5) - 2 }
        let b = (0..<(n * k)).map { Float($0 % 3) - 1 }
        var c = [Float](repeating: 0, count: m * n)
        // C = A · Bᵀ with B stored n×k.
        BLAS.gemm(.asStored, .transposed, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for t in 0..<k { s += a[i * k + t] * b[j * k + t] }
                #expect(c[i * n + j] == s)
            }
        }
    }
}

@Suite struct HalfPrecisionTests {
    @Test func halfRoundTripsAndSoftwarePathAgrees() {
        for bits in stride(from: 0, through: 0xFFFF, by: 1) {
            let h = UInt16(bits)
            let hardware = HalfPrecision.float(fromHalfBits: h)
            let software = HalfPrecision.softwareHalfToFloat(h)
            if hardware.isNaN { #expect(software.isNaN); continue }
            #expect(hardware == software)
            #expect(HalfPrecision.halfBits(from: hardware) == h)
            #expect(HalfPrecision.softwareFloatToHalf(hardware) == h)
        }
    }

    @Test func bfloat16RoundsToNearestEven() {
        #expect(HalfPrecision.float(fromBFloat16Bits: 0x3F80) == 1)
        #expect(HalfPrecision.bfloat16Bits(from: 1) == 0x3F80)
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
        #expect(HalfPrecision.bfloat16Bits(from: 1 + 1.0 / 256) == 0x3F80)
        #expect(HalfPrecision.bfloat16Bits(from: 1 + 3.0 / 256) == 0x3F82)
        #expect(HalfPrecision.float(fromBFloat16Bits: HalfPrecision.bfloat16Bits(from: .nan)).isNaN)
    }
}

@Suite struct SeededGeneratorTests {
    @Test func matchesReferenceXoshiro256StarStarSeededBySplitMix64() {
        // xoshiro256** (Blackman and Vigna) with its state filled by four SplitMix64 draws from seed 0, computed by an
        // independent Python transcription of the reference C code.
        var generator = SeededGenerator(seed: 0)
        #expect(generator.next() == 0x99EC_5F36_CB75_F2B4)
        #expect(generator.next() == 0xBF6E_1F78_4956_452A)
        #expect(generator.next() == 0x1A5F_849D_4933_E6E0)
    }

    @Test func savedStateContinuesTheSequence() {
        var a = SeededGenerator(seed: 42)
        _ = a.next()
        var b = SeededGenerator(state: a.state)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var values = Array(0..<50)
        var g = SeededGenerator(seed: 1)
        g.shuffle(&values)
        #expect(values.sorted() == Array(0..<50))
        #expect(values != Array(0..<50))
    }
}

@Suite struct BLASKernelChoiceTests {
    @Test func preferredCoreFollowsTheCPUFeatures() {
        let avx2: Set<String> = ["sse4_2", "avx", "avx2", "fma", "f16c"]
        let avx512 = avx2.union(["avx512f", "avx512bw", "avx512dq", "avx512vl"])
        #expect(BLASKernelChoice.preferredCoreType(cpuFlags: avx512.union(["avx512_bf16"])) == "Cooperlake")
        #expect(BLASKernelChoice.preferredCoreType(cpuFlags: avx512) == "SkylakeX")
        #expect(BLASKernelChoice.preferredCoreType(cpuFlags: avx2) == "Haswell")
        #expect(BLASKernelChoice.preferredCoreType(cpuFlags: ["sse4_2", "avx"]) == nil)
        #expect(BLASKernelChoice.preferredCoreType(cpuFlags: avx2.subtracting(["fma"])) == nil)
        // Every core the choice can name counts as capable, so a relaunch never loops.
        for flags in [avx512.union(["avx512_bf16"]), avx512, avx2] {
            #expect(BLASKernelChoice.capableCores.contains(BLASKernelChoice.preferredCoreType(cpuFlags: flags)!))
        }
    }
}
