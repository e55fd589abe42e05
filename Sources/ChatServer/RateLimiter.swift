import Foundation
import Synchronization

/// Token buckets per key and per tenant, kept in this process (documented as per instance).
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    private let rate: Double
    private let burst: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    /// - Parameters:
    ///   - rate: tokens per second (0 = unlimited).
    ///   - burst: bucket size.
    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = max(burst, 1)
    }

    /// Takes one token for `key`; returns nil when allowed, else milliseconds until a token is available.
    func take(_ key: String, now: Double = Date().timeIntervalSince1970) -> Int64? {
        guard rate > 0 else { return nil }
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                buckets[key] = bucket
                return nil
            }
            buckets[key] = bucket
            if buckets.count > 100_000 { buckets.removeAll(keepingCapacity: true) }
            return Int64(((1 - bucket.tokens) / rate * 1000).rounded(.up))
        }
    }
}
