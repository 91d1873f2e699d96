import EPCore
import EPFormats
import EPStore
import EPTestSupport
import Foundation
import Testing

/// A valid dictionary folder is damaged one field at a time; loading must refuse each with the file, the tensor or
/// field, and the region or row.
@Suite struct DictionaryValidationTests {
    let dictionary = try! sampleDictionary(seed: 5)

    /// A freshly written copy of the sample dictionary (with a reservoir), optionally with context windows and a
    /// build log.
    func fresh(contexts: ContextTable? = nil, log: BuildLog? = nil) throws -> String {
        let folder = makeTemporaryFolder("ep-validation") + "/d"
        let (c, b) = provenance(dictionary)
        try DictionaryStore.write(dictionary, calibration: c, build: b, to: folder, contexts: contexts, log: log)
        return folder
    }

    /// The message loading `folder` fails with (every combination of the optional parts).
    func loadError(_ folder: String, reservoir: Bool = true) -> String {
        failure { _ = try DictionaryStore.load(folder, reservoir: reservoir) }
    }

    /// A region with at least two members and some empty reference slots (so every kind of damage applies).
    var region: Int {
        let r = dictionary.regions
        return (0..<r.count).first { r.memberCounts[$0] >= 2 && r.memberCounts[$0] < 10 }!
    }

    @Test func theSampleLoads() throws {
        let loaded = try DictionaryStore.load(try fresh())
        #expect(loaded.dictionary.regions == dictionary.regions)
        #expect(dictionary.regionCount > 5)
    }

    @Test func directionsMustBeFiniteAndUnit() throws {
        let k = region
        let cases: [(String, (inout [Float]) -> Void, String)] = [
            ("exemplar_direction", { $0[k * 16 + 2] = .nan }, "regions.safetensors: exemplar_direction row \(k) is not finite (element 2 is nan)"),
            ("exemplar_direction", { $0[k * 16 + 15] = .infinity }, "regions.safetensors: exemplar_direction row \(k) is not finite (element 15 is inf)"),
            ("exemplar_direction", { for j in 0..<16 { $0[k * 16 + j] *= 1e30 } }, "regions.safetensors: exemplar_direction row \(k) has norm "),
            ("exemplar_direction", { for j in 0..<16 { $0[k * 16 + j] = 0 } }, "regions.safetensors: exemplar_direction row \(k) has norm 0.0; expected a unit direction (norm 1 ± 0.0001)"),
            ("exemplar_direction", { for j in 0..<16 { $0[k * 16 + j] = .leastNonzeroMagnitude } }, "exemplar_direction row \(k) has norm"),
            ("exemplar_direction", { for j in 0..<16 { $0[k * 16 + j] *= 1.001 } }, "exemplar_direction row \(k) has norm 1.00"),
            ("mean_member_direction", { $0[k * 16] = .nan }, "regions.safetensors: mean_member_direction row \(k) is not finite (element 0 is nan)"),
            ("mean_member_direction", { for j in 0..<16 { $0[k * 16 + j] *= 2 } }, "regions.safetensors: mean_member_direction row \(k) has norm "),
            ("center", { $0[5] = .nan }, "regions.safetensors: center element 5 is not finite (nan)"),
            ("closest_distance", { $0[k * 10] = 3 }, "regions.safetensors: closest_distance of region \(k) slot 0 is 3.0; expected a cosine distance in [0, 2]"),
            ("farthest_distance", { $0[k * 10] = -0.5 }, "regions.safetensors: farthest_distance of region \(k) slot 0 is -0.5"),
            ("closest_distance", { $0[k * 10] = .infinity }, "closest_distance of region \(k) slot 0 is inf"),
        ]
        for (tensor, edit, message) in cases {
            let folder = try fresh()
            try DictionaryDamage.editTensor(folder, tensor: tensor, as: Float.self, edit)
            let error = loadError(folder, reservoir: false)
            #expect(error.contains(message), "\(tensor): \(error)")
            #expect(error.hasPrefix(folder + "/regions.safetensors: "), "\(error)")
        }
    }

    @Test func countsAndSumsMustBeInRange() throws {
        let k = region
        let count = dictionary.regions.memberCounts[k]
        let rows = dictionary.rowsSeen
        let b = Int64(dictionary.batchHistory.count)
        let first = dictionary.regions.firstBatches[k]
        let int64Cases: [(String, (inout [Int64]) -> Void, String)] = [
            ("member_count", { $0[k] = -3 }, "member_count of region \(k) is -3; expected at least 1"),
            ("member_count", { $0[k] = 0 }, "member_count of region \(k) is 0; expected at least 1"),
            ("member_count", { $0[k] = .max }, "member_count of region \(k) is \(Int64.max): regions 0…\(k) would hold more members than the \(rows) rows"),
            ("exemplar_index", { $0[k] = -1 }, "exemplar_index of region \(k) is -1; expected a row of its first batch \(first)"),
            ("exemplar_index", { $0[k] = rows }, "exemplar_index of region \(k) is \(rows)"),
            ("first_batch", { $0[k] = b }, "first_batch of region \(k) is \(b); expected a batch 0 … \(b - 1)"),
            ("first_batch", { $0[k] = -1 }, "first_batch of region \(k) is -1"),
            ("last_batch", { $0[k] = first - 1 }, "last_batch of region \(k) is \(first - 1); expected \(first) (its first_batch)"),
            ("n_batches", { $0[k] = 0 }, "n_batches of region \(k) is 0; expected 1 …"),
            ("n_batches", { $0[k] = count + 100 }, "n_batches of region \(k) is \(count + 100)"),
            ("batch_rows", { $0[2] = -5 }, "batch_rows of batch 2 is -5; expected a count ≥ 0"),
            ("batch_rows", { $0[1] = .max }, "batch_rows: the batches hold more than 2^53 rows in all (at batch 1)"),
            ("batch_new_regions", { $0[3] = 101 }, "batch_new_regions of batch 3 is 101; expected 0 … 100"),
            ("batch_new_regions", { $0[0] = 0 }, "batch_new_regions of batch 0 is 0 but"),
            ("closest_source", { $0[k * 10] = -7 }, "closest_source/_position of region \(k) slot 0 are -7/"),
            ("farthest_source", { $0[k * 10 + 9] = 4 }, "farthest_source/_position of region \(k) slot 9 are 4/-1 but its distance is NaN"),
        ]
        for (tensor, edit, message) in int64Cases {
            let folder = try fresh()
            try DictionaryDamage.editTensor(folder, tensor: tensor, as: Int64.self, edit)
            let error = loadError(folder)
            #expect(error.contains(message), "\(tensor): \(error)")
            #expect(error.hasPrefix(folder + "/regions.safetensors: "), "\(error)")
        }
        let doubleCases: [(String, (inout [Double]) -> Void, String)] = [
            ("member_coherence", { $0[k] = 1.5 }, "member_coherence of region \(k) is 1.5; expected a norm of a mean of unit directions, in [0, 1]"),
            ("member_coherence", { $0[k] = .nan }, "member_coherence of region \(k) is nan"),
            ("member_coherence", { $0[k] = -0.1 }, "member_coherence of region \(k) is -0.1"),
            ("sum_dist_to_exemplar", { $0[k] = -1 }, "sum_dist_to_exemplar of region \(k) is -1.0; expected 0 … \(2 * Double(count - 1))"),
            ("sum_dist_to_exemplar", { $0[k] = 2 * Double(count) }, "sum_dist_to_exemplar of region \(k) is \(2 * Double(count))"),
            ("sum_dist_to_exemplar", { $0[k] = .infinity }, "sum_dist_to_exemplar of region \(k) is inf"),
            ("sum_sq_dist_to_exemplar", { $0[k] = -1 }, "sum_sq_dist_to_exemplar of region \(k) is -1.0"),
            ("sum_sq_dist_to_exemplar", { $0[k] = .nan }, "sum_sq_dist_to_exemplar of region \(k) is nan"),
        ]
        for (tensor, edit, message) in doubleCases {
            let folder = try fresh()
            try DictionaryDamage.editTensor(folder, tensor: tensor, as: Double.self, edit)
            let error = loadError(folder)
            #expect(error.contains(message), "\(tensor): \(error)")
        }
        let folder = try fresh()
        try DictionaryDamage.editTensor(folder, tensor: "closest_position", as: Int32.self) { $0[k * 10] = -2 }
        #expect(loadError(folder).contains("closest_source/_position of region \(k) slot 0 are"))
    }

    @Test func manifestNumbersMustBeInRange() throws {
        let cases: [(String, JSONValue, String)] = [
            ("threshold", .number(3), "manifest.json: field 'threshold': expected a cosine-distance threshold θ in (0, 2), found 3.0"),
            ("threshold", .number(2), "field 'threshold': expected a cosine-distance threshold θ in (0, 2), found 2.0"),
            ("threshold", .number(0), "field 'threshold'"),
            ("threshold", .number(-1), "field 'threshold'"),
            ("percentile", .number(150), "manifest.json: field 'percentile': expected a percentile in (0, 100), found 150.0"),
            ("calibration.percentile", .number(0), "field 'calibration.percentile': expected a percentile in (0, 100)"),
            ("center_norm", .number(-1), "field 'center_norm': expected a finite norm ≥ 0"),
            ("center_norm", .number(12345), "manifest.json: field 'center_norm' is 12345.0 but the center in regions.safetensors has norm"),
            ("build.new_region_rate", .number(1.5), "field 'build.new_region_rate': expected a rate in [0, 1], found 1.5"),
            ("build.n_activations", .integer(-1), "field 'build.n_activations': expected a count ≥ 0, found -1"),
            ("calibration.n_batches", .integer(-2), "field 'calibration.n_batches': expected a count ≥ 0, found -2"),
        ]
        for (field, value, message) in cases {
            let folder = try fresh()
            try DictionaryDamage.setManifestField(folder, field, value)
            let error = loadError(folder, reservoir: false)
            #expect(error.contains(message), "\(field): \(error)")
            #expect(error.hasPrefix(folder + "/manifest.json: "), "\(error)")
        }
    }

    @Test func reservoirRowsMustBeFiniteAndUnit() throws {
        var folder = try fresh()
        try DictionaryDamage.editTensor(folder, file: "reservoir.safetensors", tensor: "member_direction", as: Float.self) { $0[3 * 16 + 1] = .nan }
        #expect(loadError(folder).contains("reservoir.safetensors: member_direction row 3 is not finite (element 1 is nan)"))
        // Without the reservoir the rest still loads.
        #expect(try DictionaryStore.load(folder, reservoir: false).dictionary.regionCount == dictionary.regionCount)

        folder = try fresh()
        try DictionaryDamage.editTensor(folder, file: "reservoir.safetensors", tensor: "member_direction", as: Float.self) {
            for j in 0..<16 { $0[5 * 16 + j] = 0 }
        }
        #expect(loadError(folder).contains("reservoir.safetensors: member_direction row 5 has norm 0.0"))
    }

    @Test func referencesMustPointIntoTheStoredWindows() throws {
        // The sample's references are (row / 10, row % 10): windows 0 ..< 70 of 10 positions.
        func windows(tokens: Int, skipping skipped: Int64? = nil) -> ContextTable {
            ContextTable((0..<70).filter { $0 != skipped }.map { ContextWindow(id: $0, tokens: [Int32](repeating: 7, count: tokens), origin: "f:\($0)") })
        }
        var folder = try fresh(contexts: windows(tokens: 10))
        #expect(try DictionaryStore.load(folder).contexts?.windows.count == 70)

        folder = try fresh(contexts: windows(tokens: 5))
        var error = loadError(folder)
        #expect(error.contains("regions.safetensors: ") && error.contains("_position of region") && error.contains("of \(folder)/contexts.safetensors has 5 tokens"), "\(error)")
        // Without the windows, nothing refers to them.
        #expect(throws: Never.self) { try DictionaryStore.load(folder, contexts: false) }

        let r = dictionary.regions
        let referenced = r.closest.members(of: 0)[0].reference.source
        folder = try fresh(contexts: windows(tokens: 10, skipping: referenced))
        error = loadError(folder)
        #expect(error.contains("is window \(referenced), which \(folder)/contexts.safetensors does not hold"), "\(error)")
    }

    @Test func buildLogCountsMustBeInRange() throws {
        func snapshot(_ i: Int, tokens: Int = 100, batch: Int = 100, new: Int = 3, elapsed: Double = 1) -> BuildSnapshot {
            BuildSnapshot(batch: i + 1, tokens: tokens * (i + 1), activations: 100 * (i + 1), regions: 3 * (i + 1), batchActivations: batch, newRegions: new, elapsedSeconds: elapsed)
        }
        let good = BuildLog(snapshots: (0..<7).map { snapshot($0) })
        #expect(try DictionaryStore.load(try fresh(log: good)).buildLog == good)
        let cases: [(BuildSnapshot, String)] = [
            (snapshot(2, tokens: -1), "field 'snapshots[2].tokens': expected a count in 0 … 2^53, found -3"),
            (snapshot(2, new: 101), "field 'snapshots[2].new_regions': 101 regions founded by 100 activations"),
            (snapshot(2, batch: Int.max), "field 'snapshots[2].batch_activations': expected a count in 0 … 2^53"),
            (snapshot(2, elapsed: -1), "field 'snapshots[2].elapsed_s': expected a finite time ≥ 0, found -1.0"),
        ]
        for (bad, message) in cases {
            var log = good
            log.snapshots[2] = bad
            let folder = try fresh(log: log)
            let error = loadError(folder)
            #expect(error.contains(folder + "/build_log.json: " + message), "\(error)")
        }
    }

    @Test func everyPartIsCheckedWhateverIsLoaded() throws {
        let folder = try fresh()
        try DictionaryDamage.editTensor(folder, tensor: "exemplar_direction", as: Float.self) { $0[0] = .nan }
        for (reservoir, contexts) in [(true, true), (false, false), (false, true)] {
            #expect(failure { _ = try DictionaryStore.load(folder, reservoir: reservoir, contexts: contexts) }.contains("exemplar_direction row 0 is not finite"))
        }
    }

    @Test func aCancellingRegionMayHaveAShortMeanDirection() throws {
        // Coherence below 1e-6: the members' directions cancel, and the stored mean may be shorter than unit
        // (never longer).
        let k = region
        var folder = try fresh()
        try DictionaryDamage.editTensor(folder, tensor: "member_coherence", as: Double.self) { $0[k] = 0 }
        try DictionaryDamage.editTensor(folder, tensor: "mean_member_direction", as: Float.self) { for j in 0..<16 { $0[k * 16 + j] = 0 } }
        #expect(try DictionaryStore.load(folder).dictionary.regions.memberCoherences[k] == 0)
        folder = try fresh()
        try DictionaryDamage.editTensor(folder, tensor: "member_coherence", as: Double.self) { $0[k] = 0 }
        try DictionaryDamage.editTensor(folder, tensor: "mean_member_direction", as: Float.self) { for j in 0..<16 { $0[k * 16 + j] *= 3 } }
        #expect(loadError(folder).contains("mean_member_direction row \(k) has norm "))
    }
}
