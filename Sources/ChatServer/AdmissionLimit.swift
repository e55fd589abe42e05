import Synchronization

/// A bound on work held in memory, by count and by bytes: `admit` takes a slot or refuses at once, and
/// `release` gives it back. Refusing is the point: past the bound, callers are answered OVERLOADED
/// instead of being queued, so a flood costs the server no more memory than the bound.
final class AdmissionLimit: Sendable {
    private struct Usage {
        var calls = 0
        var bytes = 0
    }

    private let maxCalls: Int
    private let maxBytes: Int
    private let usage = Mutex(Usage())

    init(calls: Int, bytes: Int) {
        maxCalls = max(1, calls)
        maxBytes = max(1, bytes)
    }

    /// Takes a slot for work of `bytes`; false when the count or the bytes would pass the bound (one call is
    /// always admitted when nothing is held, whatever its size).
    func admit(bytes: Int) -> Bool { admitCall(bytes: bytes) != nil }

    /// `admit`, telling whether the call is the only work held (nil when refused).
    func admitCall(bytes: Int) -> Bool? {
        usage.withLock { u in
            guard u.calls == 0 || (u.calls < maxCalls && u.bytes + bytes <= maxBytes) else { return nil }
            u.calls += 1
            u.bytes += bytes
            return u.calls == 1
        }
    }

    func release(bytes: Int) {
        usage.withLock { u in
            u.calls -= 1
            u.bytes -= bytes
        }
    }

    /// Work admitted and not yet released.
    var calls: Int { usage.withLock { $0.calls } }
}
