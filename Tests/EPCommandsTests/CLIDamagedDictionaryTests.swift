import EPFormats
import EPTestSupport
import Foundation
import Testing

/// Every verb that reads a dictionary refuses a damaged one with one error line naming the file, the tensor and
/// the row, and exits with status 1 (not a crash signal: a NaN exemplar used to trap `ep report`).
@Suite struct CLIDamagedDictionaryTests {
    static let fixtures = try! Fixtures()

    static let verbs: [[String]] = [
        ["report", "d", "-o", "site"],
        ["info", "d"],
        ["info", "d", "--json"],
        ["assign", "d", fixtures.path("good.npy"), "-o", "a.csv"],
        ["inspect", "d"],
        ["export", "d", "--format", "npz", "-o", "x.npz"],
        ["export", "d", "--format", "saelens", "-o", "sae"],
        ["match", "d", "d"],
        ["encode", "d", fixtures.path("good.npy"), "-o", "e.safetensors"],
    ]

    @Test func everyVerbRefusesANaNExemplar() throws {
        let work = makeTemporaryFolder("ep-damaged")
        let built = try ep(["build", Self.fixtures.path("good.npy"), "--percentile", "5", "--batch-size", "128", "-o", "d"], in: work)
        try #require(built.status == 0, "\(built.stderr)")
        try DictionaryDamage.editTensor(work + "/d", tensor: "exemplar_direction", as: Float.self) { $0[3 * Fixtures.width + 7] = .nan }
        let before = listing(work)
        for arguments in Self.verbs {
            let run = try ep(arguments, in: work)
            let command = "ep \(arguments.joined(separator: " "))"
            #expect(run.status == 1, "\(command): status \(run.status)\n\(run.stderr)")
            #expect(run.errorLines == ["Error: d/regions.safetensors: exemplar_direction row 3 is not finite (element 7 is nan)"], "\(command): \(run.stderr)")
            #expect(listing(work) == before, "\(command) left \(Set(listing(work)).subtracting(before))")
        }
    }

    @Test func everyVerbRefusesAThresholdOfThree() throws {
        let work = makeTemporaryFolder("ep-damaged")
        let built = try ep(["build", Self.fixtures.path("good.npy"), "--percentile", "5", "--batch-size", "128", "-o", "d"], in: work)
        try #require(built.status == 0, "\(built.stderr)")
        try DictionaryDamage.setManifestField(work + "/d", "threshold", .number(3))
        for arguments in Self.verbs {
            let run = try ep(arguments, in: work)
            let command = "ep \(arguments.joined(separator: " "))"
            #expect(run.status == 1, "\(command): status \(run.status)\n\(run.stderr)")
            #expect(run.errorLines == ["Error: d/manifest.json: field 'threshold': expected a cosine-distance threshold θ in (0, 2), found 3.0"], "\(command): \(run.stderr)")
        }
    }
}
