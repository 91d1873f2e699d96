import Foundation
import Testing
@testable import EPFormats

/// A folder kind for the tests: a folder holding only `data.txt`, recognised by it.
private let dataFolder = OutputKind.folder("data folder", entries: ["data.txt"]) { folder in
    FileManager.default.fileExists(atPath: folder + "/data.txt")
}
private let npyFile = OutputKind.unmarkedFile("array", format: ".npy")
private let record = OutputKind.json("record", format: "ep-test-record")

private func write(_ text: String, _ path: String) throws { try AtomicOutput.write(string: text, to: path) }
private func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

/// The message of the error `body` throws (empty when it throws none).
private func failure(_ body: () throws -> Any) -> String {
    do { _ = try body(); return "" } catch { return "\(error)" }
}

@Suite struct OutputGuardTests {
    @Test func anOutputNeverTouchesAnInput() throws {
        let dir = temporaryFolder()
        try FileManager.default.createDirectory(atPath: dir + "/run1", withIntermediateDirectories: true)
        try write("x", dir + "/run1/acts.npy")
        try write("y", dir + "/b.npy")
        // The output is the input, contains it, or lies inside an input folder.
        #expect(failure { try OutputGuard.claim(dir + "/b.npy", kind: npyFile, inputs: [dir + "/b.npy"], force: true) }.contains("is an input of this command"))
        #expect(failure { try OutputGuard.claim(dir + "/run1", kind: dataFolder, inputs: [dir + "/run1/acts.npy"]) }.contains("contains an input"))
        #expect(failure { try OutputGuard.claim(dir + "/run1/out", kind: dataFolder, inputs: [dir + "/run1"]) }.contains("lies inside the input folder"))
        // Another spelling, a symbolic link to the folder, and a hard link are the same input.
        #expect(failure { try OutputGuard.claim(dir + "/run1/../b.npy", kind: npyFile, inputs: [dir + "/b.npy"], force: true) }.contains("is an input"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/alias", withDestinationPath: dir + "/run1")
        #expect(failure { try OutputGuard.claim(dir + "/alias/acts.npy", kind: npyFile, inputs: [dir + "/run1/acts.npy"], force: true) }.contains("is an input"))
        try FileManager.default.linkItem(atPath: dir + "/b.npy", toPath: dir + "/hard.npy")
        #expect(failure { try OutputGuard.claim(dir + "/hard.npy", kind: npyFile, inputs: [dir + "/b.npy"], force: true) }.contains("is an input"))
        // Two outputs of one command at one path.
        #expect(failure { try OutputGuard.claim([(dir + "/o.npy", npyFile), (dir + "/./o.npy", npyFile)], inputs: []) }.contains("also given as another output"))
        #expect(read(dir + "/b.npy") == "y" && read(dir + "/run1/acts.npy") == "x")
    }

    @Test func onlyAnOutputOfTheSameKindIsReplaced() throws {
        let dir = temporaryFolder()
        // A folder holding anything else is never replaced, not even with force.
        try FileManager.default.createDirectory(atPath: dir + "/notes", withIntermediateDirectories: true)
        try write("mine", dir + "/notes/n.txt")
        let foreign = failure { try OutputGuard.claim(dir + "/notes", kind: dataFolder, inputs: [], force: true) }
        #expect(foreign.contains("notes: holds n.txt that ep did not write as a data folder"))
        #expect(read(dir + "/notes/n.txt") == "mine")
        // An empty folder and a recognised one are replaced.
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        #expect(try OutputGuard.claim(dir + "/empty", kind: dataFolder, inputs: []).existed)
        try FileManager.default.createDirectory(atPath: dir + "/ours", withIntermediateDirectories: true)
        try write("1", dir + "/ours/data.txt")
        _ = try OutputGuard.claim(dir + "/ours", kind: dataFolder, inputs: [])
        // A file where a folder goes, and a folder where a file goes.
        try write("f", dir + "/file")
        #expect(failure { try OutputGuard.claim(dir + "/file", kind: dataFolder, inputs: []) }.contains("is not a folder"))
        #expect(failure { try OutputGuard.claim(dir + "/ours", kind: npyFile, inputs: [], force: true) }.contains("not a regular file"))
        // A file with no writer mark needs force; a marked file of the same kind does not; of another kind it does.
        try write("raw", dir + "/a.npy")
        #expect(failure { try OutputGuard.claim(dir + "/a.npy", kind: npyFile, inputs: []) }.contains("give --force"))
        _ = try OutputGuard.claim(dir + "/a.npy", kind: npyFile, inputs: [], force: true)
        try write("{\"format\": \"ep-test-record\"}\n", dir + "/r.json")
        _ = try OutputGuard.claim(dir + "/r.json", kind: record, inputs: [])
        try write("{\"format\": \"ep-other\"}\n", dir + "/s.json")
        #expect(failure { try OutputGuard.claim(dir + "/s.json", kind: record, inputs: []) }.contains("another kind"))
        // A symbolic link at the output path, and an empty path.
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/ours")
        #expect(failure { try OutputGuard.claim(dir + "/link", kind: dataFolder, inputs: []) }.contains("symbolic link"))
        #expect(failure { try OutputGuard.claim("", kind: dataFolder, inputs: []) }.contains("an empty output path"))
        #expect(failure { try OutputGuard.claim(dir + "/..", kind: dataFolder, inputs: []) }.contains(". or .."))
    }

    @Test func aSecondWriterIsRefusedAndAStaleLockTakenOver() throws {
        let dir = temporaryFolder()
        let first = try OutputGuard.claim(dir + "/out", kind: dataFolder, inputs: [])
        #expect(first.staleLockHolder == nil)
        let second = failure { try OutputGuard.claim(dir + "/out", kind: dataFolder, inputs: []) }
        #expect(second.contains("is being written by another ep process (pid \(getpid()))"))
        first.release()
        #expect(!FileManager.default.fileExists(atPath: dir + "/.out.lock"), "a released lock removes its file")
        // A lock file left by a process that was killed holds its pid but no lock.
        try write("999999\n", dir + "/.out.lock")
        let third = try OutputGuard.claim(dir + "/out", kind: dataFolder, inputs: [])
        #expect(third.staleLockHolder == 999_999)
        #expect(read(dir + "/.out.lock") == "\(getpid())\n")
    }

    @Test func temporariesOfInterruptedWritesAreRemoved() throws {
        let dir = temporaryFolder()
        for name in [".out.tmp-123-4", "..out.tmp-1-2.tmp-3-4", ".out.tmp-x", ".other.tmp-1-2", ".out.tmp-5-6"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(name)", withIntermediateDirectories: true)
        }
        try write("partial", dir + "/.out.tmp-5-6/data.txt")
        let claim = try OutputGuard.claim(dir + "/out", kind: dataFolder, inputs: [])
        #expect(Set(claim.removedTemporaries) == [".out.tmp-123-4", "..out.tmp-1-2.tmp-3-4", ".out.tmp-5-6"])
        #expect(OutputGuard.entries(of: dir) == [".other.tmp-1-2", ".out.lock", ".out.tmp-x"])
        #expect(!OutputGuard.isTemporary(".outer.tmp-1-2", of: "out") && OutputGuard.isTemporary(".out.tmp-1-2", of: "out"))
    }

    @Test func aTransactionMovesAllOutputsOrNone() throws {
        let dir = temporaryFolder()
        try write("old a", dir + "/a.npy")
        let claims = try OutputGuard.claim([(dir + "/a.npy", npyFile), (dir + "/b.npy", npyFile)], inputs: [], force: true)
        // The second move fails: the first output is put back as it was, and no temporary is left.
        let failing = OutputTransaction()
        try write("new a", failing.stage(claims[0]))
        try write("new b", failing.stage(claims[1]))
        let normal = failing.move
        var moves = 0
        failing.move = { from, to, exchange in
            moves += 1
            if moves == 2 { throw FileFormatError(to, "disk full") }
            try normal(from, to, exchange)
        }
        #expect(failure { try failing.commit() }.contains("disk full"))
        #expect(read(dir + "/a.npy") == "old a" && !FileManager.default.fileExists(atPath: dir + "/b.npy"))
        #expect(OutputGuard.entries(of: dir).allSatisfy { $0.hasSuffix(".lock") || !$0.hasPrefix(".") })
        // An output that was not written fails the commit before anything moves.
        let partial = OutputTransaction()
        try write("new a", partial.stage(claims[0]))
        _ = partial.stage(claims[1])
        #expect(failure { try partial.commit() }.contains("was not written"))
        #expect(read(dir + "/a.npy") == "old a")
        // Both move.
        let whole = OutputTransaction()
        try write("new a", whole.stage(claims[0]))
        try write("new b", whole.stage(claims[1]))
        try whole.commit()
        #expect(read(dir + "/a.npy") == "new a" && read(dir + "/b.npy") == "new b")
        #expect(OutputGuard.entries(of: dir) == [".a.npy.lock", ".b.npy.lock", "a.npy", "b.npy"])
    }

    @Test func npzArchivesCarryTheirMark() throws {
        let dir = temporaryFolder()
        var npz = NPZWriter()
        npz.comment = "ep test"
        npz.add("x", [Float(1), 2], shape: [2])
        try npz.write(to: dir + "/x.npz")
        #expect(NPZWriter.comment(ofFile: dir + "/x.npz") == "ep test")
        _ = try OutputGuard.claim(dir + "/x.npz", kind: .npz("archive", mark: "ep test"), inputs: [])
        #expect(failure { try OutputGuard.claim(dir + "/x.npz", kind: .npz("archive", mark: "ep other"), inputs: []) }.contains("another kind"))
        try write("not a zip", dir + "/y.npz")
        #expect(NPZWriter.comment(ofFile: dir + "/y.npz") == nil)
    }
}
