// swift-tools-version:6.1
//
// Coverage-guided fuzz targets (libFuzzer) for the parsers of untrusted bytes in ExemplarPartitioning. A package
// of its own so that the main package's `swift build` and `swift test` never see them. Build and run with
// `make fuzz` (Fuzz/run.sh), which builds with `--sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address`; see
// docs/fuzzing.md.
import PackageDescription

let targets = [
    "FuzzNPY", "FuzzSafetensors", "FuzzGGUF", "FuzzTokenizerJSON", "FuzzHFConfig", "FuzzJSONL", "FuzzManifest",
    "FuzzCalibrationRecord", "FuzzJSON", "FuzzPickle",
]

let package = Package(
    name: "EPFuzz",
    dependencies: [.package(name: "ExemplarPartitioning", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "ExemplarPartitioning", package: "ExemplarPartitioning")]),
    ] + targets.map { name in
        // libFuzzer supplies `main`; each target defines LLVMFuzzerTestOneInput.
        .executableTarget(
            name: name,
            dependencies: ["FuzzSupport", .product(name: "ExemplarPartitioning", package: "ExemplarPartitioning")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    },
    swiftLanguageModes: [.v6]
)
