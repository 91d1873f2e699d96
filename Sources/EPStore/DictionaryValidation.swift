import EPCore
import EPFormats
import EPTensors
import Foundation

/// The numeric checks a dictionary passes when it is loaded (``DictionaryStore/load(_:reservoir:contexts:)``), so
/// that every verb reading a dictionary refuses a damaged one with the file, the tensor or field, and the region or
/// row, instead of trapping or giving silently wrong answers.
///
/// What is checked, on top of the format, shapes and dtypes that loading checks anyway:
///
/// * manifest: θ finite and in (0, 2) (a cosine distance threshold of 2 or more would match every row); the
///   percentile, when recorded, in (0, 100); `center_norm` finite and equal to ‖center‖; counts ≥ 0; the new-region
///   rate in [0, 1]; a BOS token id that fits a token id;
/// * `center`: finite;
/// * `exemplar_direction`, `mean_member_direction` and the reservoir's `member_direction`: finite rows of norm
///   1 ± ``unitNormTolerance``. A region whose members' directions cancel (coherence below
///   ``cancellingCoherence``) may have a shorter mean direction, never a longer one;
/// * per region: `member_count` ≥ 1; `member_coherence` finite and in [0, 1 + ``unitNormTolerance``];
///   `sum_dist_to_exemplar` in [0, 2·(count − 1)] and `sum_sq_dist_to_exemplar` in [0, 4·(count − 1)] (each
///   member's distance is a clamped cosine distance in [0, 2]; the founder's is 0); `first_batch` ≤ `last_batch`
///   < B; `n_batches` in [1, last − first + 1]; `exemplar_index` a row of the region's first batch;
/// * the batch history: `batch_rows` ≥ 0 summing to at most 2⁵³ rows (so every count is exact as a `Double`),
///   `batch_new_regions` in [0, rows], and each batch founding at least the regions whose first batch it is;
/// * closest/farthest references: each slot empty (source −1, position −1, distance NaN) or filled (source ≥ 0,
///   position ≥ 0, distance in [0, 2]), at most `member_count` filled; with the context windows loaded, every
///   filled reference points at a stored window and a position inside it (any position ≥ 0 in a text window);
/// * the reservoir: at most min(30, `member_count`) samples per region;
/// * `build_log.json`: counts in [0, 2⁵³] (new regions at most the batch's activations, the batches' activations at
///   most 2⁵³ in all), elapsed seconds finite and ≥ 0.
///
/// The checks are one pass over the data; the row checks of the large matrices run on all workers (0.1 s for
/// 100,000 regions × 2,304 on two cores, release build).
public enum DictionaryValidation {
    /// How far the norm of a stored unit direction may be from 1. The writer forms directions in `Float` as
    /// `v / (‖v‖ + 1e-12)`; over dictionaries built with `ep build` from the three conformance activation sets (p0.5,
    /// their own percentile, p10), the test suite's dictionaries (SmolLM2 text builds at D = 576 among them) and
    /// random activations of D = 2,304 and 4,096, the largest deviation measured was 1.8e-7 (exemplars, mean
    /// directions and reservoir samples alike). 1e-4 leaves a wide margin for other widths and BLAS kernels and
    /// still refuses every damaged row (NaN, zero, denormal, 1e30, a stray scale).
    public static let unitNormTolerance = 1e-4
    /// Below this coherence (‖mean of the members' unit directions‖) the members cancel and the stored mean
    /// direction `mean / (coherence + 1e-12)` may legitimately be shorter than unit.
    public static let cancellingCoherence = 1e-6
    /// The most rows a dictionary may count: 2⁵³, so that every count and sum of counts is exact as a `Double`.
    public static let maximumRows: Int64 = 1 << 53

    // MARK: manifest

    /// Checks the numbers of a parsed manifest; errors name `path` (the manifest file) and the field.
    public static func check(_ m: DictionaryManifest, path: String) throws {
        func fail(_ field: String, _ problem: String) -> FileFormatError { FileFormatError(path, "field '\(field)': \(problem)") }
        guard Calibration.isValidThreshold(m.threshold) else {
            throw fail("threshold", "expected a cosine-distance threshold θ in (0, 2), found \(m.threshold)")
        }
        for (field, p) in [("percentile", m.percentile), ("calibration.percentile", m.calibration.percentile)] {
            if let p, !(p > 0 && p < 100) { throw fail(field, "expected a percentile in (0, 100), found \(p)") }
        }
        guard m.centerNorm.isFinite, m.centerNorm >= 0 else { throw fail("center_norm", "expected a finite norm ≥ 0, found \(m.centerNorm)") }
        if let rate = m.build.newRegionRate, !(rate >= 0 && rate <= 1) {
            throw fail("build.new_region_rate", "expected a rate in [0, 1], found \(rate)")
        }
        var counts: [(String, Int?)] = [
            ("calibration.n_activations", m.calibration.activationCount), ("calibration.n_batches", m.calibration.batchCount),
            ("calibration.batch_size", m.calibration.batchSize), ("calibration.calibration_tokens", m.calibration.calibrationTokens),
            ("build.batch_size", m.build.batchSize), ("build.seed", m.build.seed), ("build.n_batches", m.build.batchCount),
            ("build.n_activations", m.build.activationCount),
        ]
        for (prefix, source) in [("calibration.source", m.calibration.source), ("build.source", m.build.source)] {
            guard let source else { continue }
            counts += [("\(prefix).n_activations", source.activationCount), ("\(prefix).n_tokens", source.tokenCount)]
            if let context = source.contextLength, context < 1 {
                throw fail("\(prefix).context_length", "expected a context length ≥ 1, found \(context)")
            }
        }
        if let t = m.build.text {
            counts += [
                ("build.text.model_width", t.modelWidth), ("build.text.min_window", t.minimumWindow),
                ("build.text.batch_windows", t.batchWindows), ("build.text.shuffle_buffer", t.shuffleBuffer), ("build.text.seed", t.seed),
                ("build.text.max_tokens", t.maxTokens), ("build.text.saturation_window", t.saturationWindow),
                ("build.text.windows", t.windows), ("build.text.tokens", t.tokens),
            ]
            if let bos = t.bosTokenID, !(0...Int(Int32.max)).contains(bos) {
                throw fail("build.text.bos_token_id", "expected a token id in 0...\(Int32.max), found \(bos)")
            }
        }
        for case let (field, value?) in counts where value < 0 { throw fail(field, "expected a count ≥ 0, found \(value)") }
    }

    // MARK: regions

    /// Checks the center, the region table (without its reference tables, see ``checkReferences``) and the batch
    /// history read from `path`; errors name the tensor and the region or row.
    static func check(center: [Float], regions r: RegionTable, batchRows: [Int64], batchNewRegions: [Int64], path: String) throws {
        func fail(_ problem: String) -> FileFormatError { FileFormatError(path, problem) }
        let k = r.count, d = r.width

        if let bad = center.firstIndex(where: { !$0.isFinite }) { throw fail("center element \(bad) is not finite (\(center[bad]))") }
        try checkUnitRows(r.exemplarDirections, rows: k, width: d, tensor: "exemplar_direction", path: path)

        // The batch history first: the per-region checks refer to it.
        var rowsSeen: Int64 = 0
        var batchStarts: [Int64] = []
        batchStarts.reserveCapacity(batchRows.count)
        for (b, (rows, created)) in zip(batchRows, batchNewRegions).enumerated() {
            guard rows >= 0 else { throw fail("batch_rows of batch \(b) is \(rows); expected a count ≥ 0") }
            guard created >= 0, created <= rows else {
                throw fail("batch_new_regions of batch \(b) is \(created); expected 0 … \(rows) (the batch's rows)")
            }
            batchStarts.append(rowsSeen)
            let (sum, overflow) = rowsSeen.addingReportingOverflow(rows)
            guard !overflow, sum <= maximumRows else {
                throw fail("batch_rows: the batches hold more than 2^53 rows in all (at batch \(b)); expected a real row count")
            }
            rowsSeen = sum
        }

        var founded = [Int64](repeating: 0, count: batchRows.count)
        var members: Int64 = 0
        for i in 0..<k {
            let count = r.memberCounts[i]
            guard count >= 1 else { throw fail("member_count of region \(i) is \(count); expected at least 1 (the founder)") }
            guard count <= rowsSeen - members else {
                throw fail("member_count of region \(i) is \(count): regions 0…\(i) would hold more members than the \(rowsSeen) rows of the batches")
            }
            members += count
            let coherence = r.memberCoherences[i]
            guard coherence.isFinite, coherence >= 0, coherence <= 1 + unitNormTolerance else {
                throw fail("member_coherence of region \(i) is \(coherence); expected a norm of a mean of unit directions, in [0, 1]")
            }
            let others = Double(count - 1), slack = 1 + 1e-9
            let sum = r.sumDistances[i], squares = r.sumSquaredDistances[i]
            guard sum.isFinite, sum >= 0, sum <= 2 * others * slack else {
                throw fail("sum_dist_to_exemplar of region \(i) is \(sum); expected 0 … \(2 * others) (\(count - 1) members' distances, each in [0, 2])")
            }
            guard squares.isFinite, squares >= 0, squares <= 4 * others * slack else {
                throw fail("sum_sq_dist_to_exemplar of region \(i) is \(squares); expected 0 … \(4 * others) (\(count - 1) members' squared distances, each in [0, 4])")
            }
            let first = r.firstBatches[i], last = r.lastBatches[i], batches = r.batchCounts[i]
            let b = Int64(batchRows.count)
            guard first >= 0, first < b else { throw fail("first_batch of region \(i) is \(first); expected a batch 0 … \(b - 1)") }
            guard last >= first, last < b else { throw fail("last_batch of region \(i) is \(last); expected \(first) (its first_batch) … \(b - 1)") }
            guard batches >= 1, batches <= last - first + 1, batches <= count else {
                throw fail("n_batches of region \(i) is \(batches); expected 1 … \(min(last - first + 1, count)) (batches \(first)…\(last), \(count) members)")
            }
            let row = r.exemplarRows[i], start = batchStarts[Int(first)], end = start + batchRows[Int(first)]
            guard row >= start, row < end else {
                throw fail("exemplar_index of region \(i) is \(row); expected a row of its first batch \(first), \(start) ..< \(end)")
            }
            founded[Int(first)] += 1
        }
        for (b, n) in founded.enumerated() where n > batchNewRegions[b] {
            throw fail("batch_new_regions of batch \(b) is \(batchNewRegions[b]) but \(n) regions have it as their first_batch")
        }
        try checkUnitRows(
            r.meanMemberDirections, rows: k, width: d, tensor: "mean_member_direction", path: path,
            mayBeShort: { r.memberCoherences[$0] < cancellingCoherence })
    }

    /// Checks one reference tensor triple (`closest_*` or `farthest_*`, each [K, 10]) against the member counts and,
    /// when given, the context windows.
    static func checkReferences(
        _ prefix: String, sources: [Int64], positions: [Int32], distances: [Float], memberCounts: [Int64],
        contexts: ContextTable?, contextsPath: String, path: String
    ) throws {
        let c = ReferenceTable.capacity
        for region in 0..<memberCounts.count {
            var filled: Int64 = 0
            for slot in 0..<c {
                let i = region * c + slot
                let source = sources[i], position = positions[i], distance = distances[i]
                let at = "region \(region) slot \(slot)"
                if distance.isNaN {
                    guard source == -1, position == -1 else {
                        throw FileFormatError(path, "\(prefix)_source/_position of \(at) are \(source)/\(position) but its distance is NaN (an empty slot has −1/−1)")
                    }
                    continue
                }
                guard distance >= 0, distance <= 2 else {
                    throw FileFormatError(path, "\(prefix)_distance of \(at) is \(distance); expected a cosine distance in [0, 2], or NaN for an empty slot")
                }
                guard source >= 0, position >= 0 else {
                    throw FileFormatError(path, "\(prefix)_source/_position of \(at) are \(source)/\(position); expected values ≥ 0 for a filled slot")
                }
                filled += 1
                if let contexts {
                    guard let window = contexts.window(id: source) else {
                        throw FileFormatError(path, "\(prefix)_source of \(at) is window \(source), which \(contextsPath) does not hold")
                    }
                    // A text window's positions count tokens of the tokenizer that made it, which ep may not have.
                    guard Int(position) < window.tokens.count || window.text != nil else {
                        throw FileFormatError(path, "\(prefix)_position of \(at) is \(position) but window \(source) of \(contextsPath) has \(window.tokens.count) tokens")
                    }
                }
            }
            guard filled <= memberCounts[region] else {
                throw FileFormatError(path, "\(prefix) references of region \(region): \(filled) filled slots but member_count is \(memberCounts[region])")
            }
        }
    }

    /// Checks the snapshots of a build log read from `path`.
    static func check(_ log: BuildLog, path: String) throws {
        var total: Int64 = 0
        for (i, s) in log.snapshots.enumerated() {
            func fail(_ field: String, _ problem: String) -> FileFormatError { FileFormatError(path, "field 'snapshots[\(i)].\(field)': \(problem)") }
            for (field, value) in [("batch", s.batch), ("tokens", s.tokens), ("activations", s.activations), ("regions", s.regions),
                                   ("batch_activations", s.batchActivations), ("new_regions", s.newRegions)]
            where value < 0 || Int64(value) > maximumRows {
                throw fail(field, "expected a count in 0 … 2^53, found \(value)")
            }
            guard s.newRegions <= s.batchActivations else {
                throw fail("new_regions", "\(s.newRegions) regions founded by \(s.batchActivations) activations; expected at most one per activation")
            }
            guard s.elapsedSeconds.isFinite, s.elapsedSeconds >= 0 else { throw fail("elapsed_s", "expected a finite time ≥ 0, found \(s.elapsedSeconds)") }
            total += Int64(s.batchActivations)
            guard total <= maximumRows else { throw fail("batch_activations", "the snapshots' batches hold more than 2^53 activations in all") }
        }
    }

    /// Checks the reservoir of `path`: per-region sample counts against the member counts, and every sample row.
    static func checkReservoir(directions: [Float], offsets: [Int], memberCounts: [Int64], width d: Int, path: String) throws {
        for region in 0..<memberCounts.count {
            let samples = Int64(offsets[region + 1] - offsets[region])
            guard samples <= memberCounts[region] else {
                throw FileFormatError(path, "region_offset: region \(region) has \(samples) samples but member_count is \(memberCounts[region])")
            }
        }
        try checkUnitRows(directions, rows: offsets.last ?? 0, width: d, tensor: "member_direction", path: path)
    }

    /// Checks that every row of a `rows` × `width` matrix is finite with norm 1 ± ``unitNormTolerance`` (or at most
    /// that, for the rows `mayBeShort` accepts), on all workers; the first bad row is reported.
    static func checkUnitRows(
        _ values: [Float], rows: Int, width d: Int, tensor: String, path: String, mayBeShort: (Int) -> Bool = { _ in false }
    ) throws {
        guard rows > 0, d > 0 else { return }
        let low = 1 - unitNormTolerance, high = 1 + unitNormTolerance
        var firstBad = [Int](repeating: Int.max, count: Parallel.workerCount)
        values.withUnsafeBufferPointer { v in
            firstBad.withUnsafeMutableBufferPointer { bad in
                let base = v.baseAddress!, badRows = bad.baseAddress!
                Parallel.forEachRange(count: rows, minimumPerWorker: max(1, 65_536 / d)) { range, worker in
                    for row in range {
                        let p = base + row * d
                        let norm = Kernels.allFinite(p, count: d) ? Kernels.dotDouble(p, p, count: d).squareRoot() : .nan
                        if !(norm <= high && (norm >= low || mayBeShort(row))) {
                            badRows[worker] = row
                            return
                        }
                    }
                }
            }
        }
        guard let row = firstBad.min(), row != Int.max else { return }
        let slice = values[row * d ..< (row + 1) * d]
        if let bad = slice.firstIndex(where: { !$0.isFinite }) {
            throw FileFormatError(path, "\(tensor) row \(row) is not finite (element \(bad - row * d) is \(values[bad]))")
        }
        let norm = slice.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        throw FileFormatError(path, "\(tensor) row \(row) has norm \(norm); expected a unit direction (norm 1 ± \(unitNormTolerance))")
    }
}
