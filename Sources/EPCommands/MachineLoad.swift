#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// How busy the machine is, from `/proc/stat` (all CPUs) and `getrusage` (this process), so a benchmark can say
/// how much CPU other processes took while it ran. On systems without `/proc/stat` the machine figures are absent.
struct MachineLoad {
    /// CPU-seconds counters at one instant.
    struct Sample {
        var machineBusy: Double?
        var machineTotal: Double?
        var ownCPU: Double
        var wall: Double
    }

    /// Logical CPUs online.
    static var cpuCount: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// The 1-, 5- and 15-minute load averages, if the system reports them.
    static var loadAverages: [Double]? {
        var values = [Double](repeating: 0, count: 3)
        return getloadavg(&values, 3) == 3 ? values : nil
    }

    static func sample() -> Sample {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        let own = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
        var busy: Double?
        var total: Double?
        if let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        {
            let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            if fields.count >= 5 {
                let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
                let sum = fields.prefix(8).reduce(0, +)
                let idle = fields[3] + fields[4]
                total = sum / ticks
                busy = (sum - idle) / ticks
            }
        }
        return Sample(machineBusy: busy, machineTotal: total, ownCPU: own, wall: Date().timeIntervalSince1970)
    }

    /// Between two samples: the CPUs' busy share, and the cores' worth of CPU that other processes used.
    static func between(_ a: Sample, _ b: Sample) -> (busyShare: Double?, foreignCores: Double?) {
        guard let busy0 = a.machineBusy, let busy1 = b.machineBusy, let total0 = a.machineTotal, let total1 = b.machineTotal,
            total1 > total0, b.wall > a.wall
        else { return (nil, nil) }
        let busy = busy1 - busy0
        let foreign = max(0, busy - (b.ownCPU - a.ownCPU))
        return (busy / (total1 - total0), foreign / (b.wall - a.wall))
    }

    /// Waits until other processes use less than `limit` cores over a one-second window, for at most `timeout`
    /// seconds; returns the foreign load of the last window (nil where it cannot be measured).
    static func waitForIdle(limit: Double, timeout: Double) -> Double? {
        let deadline = Date().addingTimeInterval(timeout)
        var foreign: Double?
        repeat {
            let a = sample()
            usleep(1_000_000)
            foreign = between(a, sample()).foreignCores
            guard let f = foreign, f >= limit else { return foreign }
        } while Date() < deadline
        return foreign
    }
}
