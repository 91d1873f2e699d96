import EPFormats
import EPStore
import FuzzSupport

/// A calibration record (`ep calibrate -o CALIB.json`); a record that reads is written again and must read back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCalibrationRecord(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let value = try? JSONValue.parse(bytes(data, size), path: "calibration.json"),
        let record = try? CalibrationRecord(json: value, path: "calibration.json")
    else { return 0 }
    _ = record.provenance
    let text = record.json.rendered()
    do {
        _ = try CalibrationRecord(json: try JSONValue.parse(Array(text.utf8), path: "calibration.json"), path: "calibration.json")
    } catch {
        fatalError("a calibration record that was read does not read back after writing: \(error)\n\(text)")
    }
    return 0
}
