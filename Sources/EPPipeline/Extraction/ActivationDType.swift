import EPFormats
import EPStore
import EPTensors

/// The precision every extracted activation is rounded to right after extraction, before calibration and
/// clustering see it: `f32` (kept as computed), `f16` (IEEE binary16) or `bf16` (bfloat16). A sharded build stores
/// its activations in this precision, so a build with `--activation-dtype f16` in one process and a sharded build
/// with f16 shards cluster the same values and write the same dictionary.
public enum ActivationDType: String, Sendable, CaseIterable, Equatable, JSONStringEnum {
    case f32, f16, bf16

    /// The safetensors element type of stored activations.
    public var safetensorsDType: SafetensorsDType {
        switch self {
        case .f32: .float32
        case .f16: .float16
        case .bf16: .bfloat16
        }
    }

    /// Bytes per stored activation value.
    public var byteCount: Int { safetensorsDType.size }

    /// The name of the precision in messages.
    var longName: String {
        switch self {
        case .f32: "float32"
        case .f16: "float16 (largest finite value 65504)"
        case .bf16: "bfloat16"
        }
    }

    /// Rounds the rows of every hook `batch` holds to this precision, in place (nothing for `f32`). A finite value
    /// that the precision cannot hold is an error naming the hook (`hooks[h]`), the window and the position.
    public func round(_ batch: inout ActivationBatch, hooks: [String]) throws {
        guard self != .f32 else { return }
        for h in batch.hookActivations.indices {
            guard var matrix = batch.hookActivations[h] else { continue }
            batch.hookActivations[h] = nil
            let overflow = matrix.storage.withUnsafeMutableBufferPointer { values in
                self == .f16 ? HalfPrecision.roundThroughHalf(values) : HalfPrecision.roundThroughBFloat16(values)
            }
            if let overflow {
                let row = overflow / matrix.columns
                let reference = batch.references[row]
                throw PipelineError(
                    "\(hooks[h]): the activation \(matrix.storage[overflow]) at window \(reference.source), position \(reference.position) (component \(overflow % matrix.columns)) overflows \(longName); use --activation-dtype \(self == .f16 ? "bf16 or f32" : "f32") (a sharded plan: --shard-dtype)")
            }
            batch.hookActivations[h] = matrix
        }
    }
}
