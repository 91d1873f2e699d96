// swift-tools-version:6.1
//
// ExemplarPartitioning: Exemplar Partitioning (EP) feature dictionaries from language-model activations,
// built natively on a CPU. Module layout (one job each; data flows one way):
//
//   EPTensors   row-major float buffers, the BLAS shim, SIMD kernels, half floats, selection
//   EPFormats   array file formats: .npy, .safetensors, .npz (zip), atomic writes
//   EPCore      the EP algorithm: calibration, streaming leader clustering, regions, metrics
//   EPStore     the dictionary on disk: manifest + safetensors, versioning, checks
//   EPRuntime   models: GGUF, tokenizers, architectures, hook points, generation
//   EPEvals     evaluation statistics and methods that know no model (AUROC, logistic-regression probes,
//               DiffMean, region selection, concept detection, sparse probing, correlations) and labelled datasets
//   EPPipeline  text to activations: corpora, windows, extraction, builds from text, reading and interventions
//   EPEvalSuite evaluation runs where the model and the dictionary meet: labelled texts extracted once as the
//               dictionary's build did, then EPEvals' methods; saturation curves and seed stability of dictionaries
//   EPReport    the dictionary browser: a static HTML site from a dictionary and what its model reads in it
//   EPServe     the live dictionary browser: the report's pages and a JSON API (assign, regions, steer, ablate)
//               over HTTP on Hummingbird; the only module that depends on it
//   EPCommands  the `ep` verbs (argument parsing and printing only)
//   ep          the executable
import PackageDescription

/// Numeric code is compiled optimised and for an x86-64-v3 CPU (AVX2, FMA, F16C) even in debug builds, so that
/// `swift test` runs kernels at full speed (see ../shared/spec/swift-stack.md §2.2 and §2.3).
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-O"]),
    .unsafeFlags(["-target-cpu", "haswell"], .when(platforms: [.linux])),
]

let package = Package(
    name: "ExemplarPartitioning",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ep", targets: ["ep"]),
        .library(
            name: "ExemplarPartitioning",
            targets: ["EPTensors", "EPFormats", "EPCore", "EPStore", "EPRuntime", "EPPipeline", "EPEvals", "EPEvalSuite", "EPReport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .target(
            name: "EPTensors",
            dependencies: [.target(name: "COpenBLAS", condition: .when(platforms: [.linux]))],
            swiftSettings: kernelSettings,
            linkerSettings: [.linkedFramework("Accelerate", .when(platforms: [.macOS]))]),
        .target(name: "EPFormats", dependencies: ["EPTensors"], swiftSettings: kernelSettings),
        .target(name: "EPCore", dependencies: ["EPTensors"], swiftSettings: kernelSettings),
        .target(name: "EPStore", dependencies: ["EPCore", "EPFormats"]),
        .target(name: "EPRuntime", dependencies: ["EPTensors", "EPFormats"], swiftSettings: kernelSettings),
        .target(name: "EPEvals", dependencies: ["EPTensors", "EPFormats"], swiftSettings: kernelSettings),
        .target(name: "EPPipeline", dependencies: ["EPCore", "EPStore", "EPRuntime", "EPFormats", "EPTensors"]),
        .target(name: "EPEvalSuite", dependencies: ["EPEvals", "EPPipeline", "EPCore", "EPStore", "EPRuntime", "EPFormats", "EPTensors"]),
        .target(name: "EPReport", dependencies: ["EPCore", "EPStore", "EPFormats", "EPTensors", "EPRuntime", "EPPipeline"], swiftSettings: kernelSettings),
        .target(
            name: "EPServe",
            dependencies: [
                "EPReport", "EPPipeline", "EPStore", "EPCore", "EPRuntime", "EPFormats", "EPTensors",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .target(
            name: "EPCommands",
            dependencies: [
                "EPCore", "EPStore", "EPFormats", "EPTensors", "EPRuntime", "EPPipeline", "EPEvals", "EPEvalSuite", "EPReport", "EPServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "ep", dependencies: ["EPCommands", "EPTensors"]),
        .testTarget(name: "EPTensorsTests", dependencies: ["EPTensors"]),
        .testTarget(name: "EPFormatsTests", dependencies: ["EPFormats"]),
        .testTarget(name: "EPPipelineTests", dependencies: ["EPPipeline", "EPStore", "EPRuntime", "EPCore", "EPFormats", "EPTensors", "EPTestSupport"]),
        .testTarget(name: "EPRuntimeTests", dependencies: ["EPRuntime", "EPFormats", "EPTensors"], resources: [.copy("Goldens")]),
        .testTarget(name: "EPEvalsTests", dependencies: ["EPEvals", "EPTensors"], resources: [.copy("Goldens")]),
        .target(name: "EPTestSupport", dependencies: ["EPFormats", "EPTensors"], path: "Tests/EPTestSupport"),
        .testTarget(name: "EPCoreTests", dependencies: ["EPCore", "EPFormats", "EPTensors", "EPTestSupport"]),
        .testTarget(name: "EPStoreTests", dependencies: ["EPStore", "EPCore", "EPFormats", "EPTensors", "EPTestSupport"]),
        .testTarget(name: "EPReportTests", dependencies: ["EPReport", "EPStore", "EPCore", "EPFormats", "EPTensors", "EPTestSupport"]),
        .testTarget(
            name: "EPServeTests",
            dependencies: ["EPServe", "EPReport", "EPPipeline", "EPStore", "EPCore", "EPRuntime", "EPFormats", "EPTensors", "EPTestSupport"]),
        .testTarget(
            name: "EPCommandsTests", dependencies: ["ep", "EPCommands", "EPStore", "EPCore", "EPFormats", "EPTensors", "EPTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
