import Foundation
import Synchronization

/// Request ids of reads answered by this process in the replay window, with their frame hashes.
///
/// Reads record their request id in the database without waiting for the commit; this map closes the
/// window before that commit lands, so a changed reuse of a read's id is refused at once here. It is a
/// cache: losing it (a restart) leaves the database record, which other instances see too.
final class RecentRequests: Sendable {
    private struct State {
        var hashes: [String: [UInt8]] = [:]
        var order: [(key: String, at: Int64)] = []
        var head = 0
    }

    private let windowMs: Int64
    private let capacity: Int
    private let state = Mutex(State())

    init(windowMs: Int64, capacity: Int = 200_000) {
        self.windowMs = windowMs
        self.capacity = capacity
    }

    /// The frame hash recorded for (key, request id), if any.
    func hash(keyId: String, requestId: String) -> [UInt8]? {
        state.withLock { $0.hashes[keyId + "\u{0}" + requestId] }
    }

    /// Records a call; forgets calls older than the window, and the oldest beyond the capacity.
    func record(keyId: String, requestId: String, hash: [UInt8], now: Int64) {
        let key = keyId + "\u{0}" + requestId
        state.withLock { s in
            if s.hashes.updateValue(hash, forKey: key) == nil { s.order.append((key, now)) }
            while s.head < s.order.count,
                  s.order[s.head].at < now - windowMs || s.order.count - s.head > capacity {
                s.hashes.removeValue(forKey: s.order[s.head].key)
                s.head += 1
            }
            if s.head > 1024 && s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
        }
    }
}
