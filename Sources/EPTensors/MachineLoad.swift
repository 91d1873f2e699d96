import Foundation

/// How busy the machine is, read from Linux's `/proc/stat` and `/proc/loadavg` and this process's CPU time, so
/// benchmarks can report the load they ran under (other processes share the cores of this kind of machine).
public struct MachineLoad: Sendable {
    /// CPU time of all processes (busy, not idle or waiting for I/O), in seconds, summed over cores.
    public let busySeconds: Double
    /// CPU time of this process, in seconds, summed over threads.
    public let ownSeconds: Double
    /// Wall-clock time of the sample.
    public let wallSeconds: Double

    /// A snapshot now, or nil where `/proc/stat` is unreadable (not Linux).
    public static func sample() -> MachineLoad? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 5 else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let busy = (fields.reduce(0, +) - fields[3] - fields[4]) / ticks
        var usage = rusage()
        #if os(Linux)
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        let own = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return MachineLoad(busySeconds: busy, ownSeconds: own, wallSeconds: Date().timeIntervalSince1970)
    }

    /// Cores other processes kept busy on average between `earlier` and this sample.
    public func foreignCores(since earlier: MachineLoad) -> Double {
        let wall = wallSeconds - earlier.wallSeconds
        guard wall > 0 else { return 0 }
        return max(0, (busySeconds - earlier.busySeconds) - (ownSeconds - earlier.ownSeconds)) / wall
    }

    /// The 1-, 5- and 15-minute load averages, or nil where `/proc/loadavg` is unreadable.
    public static func loadAverages() -> [Double]? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        let values = text.split(separator: " ").prefix(3).compactMap { Double($0) }
        return values.count == 3 ? values : nil
    }
}
