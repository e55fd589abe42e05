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

    /// Records a call unless its request id is recorded already, and returns the frame hash recorded before (nil
    /// when the id is new: recorded now); forgets calls older than the window, and the oldest beyond the capacity.
    /// One lock and one key for both, as an authenticated read does both.
    func record(keyId: String, requestId: String, hash: [UInt8], now: Int64) -> [UInt8]? {
        let key = keyId + "\u{0}" + requestId
        return state.withLock { s -> [UInt8]? in
            if let seen = s.hashes[key] { return seen }
            s.hashes[key] = hash
            s.order.append((key, now))
            while s.head < s.order.count,
                  s.order[s.head].at < now - windowMs || s.order.count - s.head > capacity {
                s.hashes.removeValue(forKey: s.order[s.head].key)
                s.head += 1
            }
            if s.head > 1024 && s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            return nil
        }
    }
}
