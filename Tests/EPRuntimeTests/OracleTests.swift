import EPFormats
import EPTensors
import Foundation
import Testing
@testable import EPRuntime

/// Agreement between two activation matrices, per token (row).
struct Agreement: CustomStringConvertible {
    var minCosine = 1.0
    var meanCosine = 0.0
    var maxRelativeError = 0.0
    var layerRelativeError = 0.0

    init(_ a: Matrix, reference b: Matrix) {
        var diff = 0.0, norm = 0.0
        for r in 0..<b.rows {
            var dot = 0.0, aa = 0.0, bb = 0.0, dd = 0.0
            for c in 0..<b.columns {
                let x = Double(a[r, c]), y = Double(b[r, c])
                dot += x * y; aa += x * x; bb += y * y; dd += (x - y) * (x - y)
            }
            minCosine = min(minCosine, dot / (aa.squareRoot() * bb.squareRoot()))
            meanCosine += dot / (aa.squareRoot() * bb.squareRoot()) / Double(b.rows)
            maxRelativeError = max(maxRelativeError, (dd / bb).squareRoot())
            diff += dd; norm += bb
        }
        layerRelativeError = (diff / norm).squareRoot()
    }

    var description: String {
        "min cosine \(String(format: "%.7f", minCosine)) (mean \(String(format: "%.7f", meanCosine))), max per-token rel. error \(String(format: "%.2e", maxRelativeError)), layer rel. error \(String(format: "%.2e", layerRelativeError))"
    }
}

/// The five largest logits of a row, largest first.
func top5(_ logits: Matrix, row: Int) -> [Int] {
    let values = logits.row(row)
    return Array(values.indices.sorted { values[$0] > values[$1] }.prefix(5))
}

@Suite struct OracleTests {
    static let prompts = ["short", "sample128", "chat_code"]

    /// Residuals at every captured point, and logits, against the fp32 numpy oracle (scripts/oracle/np_oracle.py).
    @Test(arguments: prompts)
    func matchesTheFP32Oracle(prompt: String) throws {
        let model = try SharedModel.smolLM2()
        let golden = try SafetensorsFile(path: goldensFolder + "/oracle_\(prompt).safetensors")
        let tokens = try golden.integers("tokens").map { Int32($0) }
        let points = try golden.tensorNames.filter { $0.contains("hook") }.map { try model.hookPoint(named: $0) }
        let result = try model.forward([tokens], hooks: Hooks(captures: Set(points)), logits: .all)
        for point in points.sorted() {
            let reference = Matrix(rows: tokens.count, columns: 576, storage: try golden.floats(point.name))
            let agreement = Agreement(result.activations[point]!, reference: reference)
            print("oracle \(prompt) \(point.name): \(agreement)")
            #expect(agreement.minCosine >= 0.9999, "\(prompt) \(point.name): \(agreement)")
            #expect(agreement.maxRelativeError <= 1e-3, "\(prompt) \(point.name): \(agreement)")
        }
        let logits = result.logits!
        let ids = try golden.integers("top5_ids")
        #expect(top5(logits, row: tokens.count - 1) == Array(ids.suffix(5)), "\(prompt): top-5 after the last token")
        let referenceLast = try golden.floats("logits_last")
        let last = logits.row(tokens.count - 1)
        let maxDiff = zip(last, referenceLast).map { abs($0 - $1) }.max()!
        print("oracle \(prompt) logits after the last token: max |diff| \(maxDiff)")
        #expect(maxDiff <= 1e-3)
        // Top-1 at every position, except where the oracle's best two are within 0.01 of each other.
        let topLogits = try golden.floats("top5_logits")
        var disagreements = 0
        for t in 0..<tokens.count where topLogits[5 * t] - topLogits[5 * t + 1] > 0.01 {
            if top5(logits, row: t)[0] != ids[5 * t] { disagreements += 1 }
        }
        #expect(disagreements == 0, "\(prompt): top-1 differs at \(disagreements) positions")
    }
}
