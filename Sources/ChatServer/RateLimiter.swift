import Foundation
import Synchronization

/// Token buckets by name (a key, a tenant, failed authentication), kept in this process (documented as per
/// instance). Time comes from the monotonic clock, so a wall-clock step neither refills nor drains them.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    private let rate: Double
    private let burst: Double
    private let capacity: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    /// - Parameters:
    ///   - rate: tokens per second (0 = unlimited).
    ///   - burst: bucket size.
    ///   - capacity: buckets kept; past it, full buckets are forgotten first (losing nothing), then the
    ///     fullest ones (a drained bucket is kept longest).
    init(rate: Double, burst: Double, capacity: Int = 100_000) {
        self.rate = rate
        self.burst = max(burst, 1)
        self.capacity = max(capacity, 1)
    }

    /// Seconds on the monotonic clock.
    static func monotonicNow() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Takes one token for `key`; returns nil when allowed, else milliseconds until a token is available.
    func take(_ key: String, now: Double = RateLimiter.monotonicNow()) -> Int64? {
        guard rate > 0 else { return nil }
        return buckets.withLock { buckets in
            var bucket = refilled(buckets[key], now: now)
            defer {
                if buckets.updateValue(bucket, forKey: key) == nil && buckets.count > capacity { evict(&buckets, now: now) }
            }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return wait(bucket)
        }
    }

    /// Milliseconds until `key` has a token, or nil when it has one now; takes nothing.
    func exhausted(_ key: String, now: Double = RateLimiter.monotonicNow()) -> Int64? {
        guard rate > 0 else { return nil }
        return buckets.withLock { buckets in
            let bucket = refilled(buckets[key], now: now)
            return bucket.tokens >= 1 ? nil : wait(bucket)
        }
    }

    private func refilled(_ bucket: Bucket?, now: Double) -> Bucket {
        guard let bucket else { return Bucket(tokens: burst, updated: now) }
        return Bucket(tokens: min(burst, bucket.tokens + max(0, now - bucket.updated) * rate),
                      updated: max(now, bucket.updated))
    }

    private func wait(_ bucket: Bucket) -> Int64 { Int64(((1 - bucket.tokens) / rate * 1000).rounded(.up)) }

    /// Forgets buckets that have refilled (a new one would be identical); if that is not enough, the fullest
    /// ones, down to 90% of the capacity: a drained bucket is what a flood of new names would like forgotten,
    /// so it is kept longest.
    private func evict(_ buckets: inout [String: Bucket], now: Double) {
        let refillSeconds = burst / rate
        buckets = buckets.filter { now - $0.value.updated < refillSeconds }
        let target = capacity - capacity / 10
        guard buckets.count > target else { return }
        let fullest = buckets.map { ($0.key, refilled($0.value, now: now).tokens) }.sorted { $0.1 > $1.1 }
        for (key, _) in fullest.prefix(buckets.count - target) { buckets.removeValue(forKey: key) }
    }
}
