// swift-tools-version:6.1
// A measurement of the runtime's weight storage (scripts/bench/weight_bench.sh builds and runs it): early-exit
// prefill and generation speed, load time and memory, of one model file or folder. It depends on the repository by
// path, so it measures the working tree it sits in.
import PackageDescription

let package = Package(
    name: "weight-bench",
    dependencies: [.package(name: "ExemplarPartitioning", path: "../../..")],
    targets: [
        .executableTarget(
            name: "weight-bench",
            dependencies: [.product(name: "ExemplarPartitioning", package: "ExemplarPartitioning")],
            swiftSettings: [.unsafeFlags(["-O"])]),
    ]
)
