@testable import ChatServer
import Testing

/// The token buckets themselves (hardening issue, item 15): time is what the caller passes (the server
/// passes the monotonic clock), and a flood of new names never resets a bucket that is being used.
@Suite("Rate limiter: monotonic time and bounded memory without amnesty")
struct RateLimiterTests {
    @Test("a bucket refills at its rate and never from a clock that goes backwards")
    func refill() {
        let limiter = RateLimiter(rate: 10, burst: 2)
        #expect(limiter.take("k", now: 100) == nil)
        #expect(limiter.take("k", now: 100) == nil)
        #expect(limiter.take("k", now: 100) == 100, "empty: a token in 100 ms")
        #expect(limiter.take("k", now: 50) != nil, "an earlier time adds nothing")
        #expect(limiter.take("k", now: 100.2) == nil && limiter.take("k", now: 100.2) == nil, "refilled to its burst")
        #expect(limiter.exhausted("k", now: 100.2) != nil && limiter.exhausted("other", now: 100.2) == nil)
    }

    @Test("past its capacity it forgets refilled and idle buckets, never the one being drained")
    func eviction() {
        let limiter = RateLimiter(rate: 1, burst: 5, capacity: 100)
        for _ in 0..<5 { #expect(limiter.take("attacker", now: 0) == nil) }
        #expect(limiter.take("attacker", now: 0) != nil)
        // 10,000 fresh names, as a flood of made-up key ids would bring, all at the same moment.
        for i in 0..<10_000 { _ = limiter.take("name-\(i)", now: 0.5) }
        #expect(limiter.take("attacker", now: 0.5) != nil, "the drained bucket survived the flood of new names")
    }
}
