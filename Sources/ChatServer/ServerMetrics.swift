import ChatCore
import Dispatch
import Metrics
import Synchronization

/// The server's metrics, through swift-metrics (smrt-chatd exports them in Prometheus's text format when
/// `metrics` is set; without a metrics backend they cost a lookup of the no-op factory). docs/metrics.md lists
/// every one. Label values come from closed sets (method names of the table, status codes, reasons): a caller
/// cannot grow the number of series.
enum ServerMetrics {
    /// Handlers by label set, made once (making one takes the backend's lock and hashes the labels).
    private static let calls = Mutex<[String: (Counter, Metrics.Timer)]>([:])

    /// A call answered: `smrtchat_calls_total{method,status}` and `smrtchat_call_duration_seconds{method}`.
    static func call(method: String, status: String, nanoseconds: UInt64) {
        let key = method + "\u{0}" + status
        let (counter, timer) = calls.withLock { handlers in
            if let made = handlers[key] { return made }
            let made = (Counter(label: "smrtchat_calls_total", dimensions: [("method", method), ("status", status)]),
                        Metrics.Timer(label: "smrtchat_call_duration_seconds", dimensions: [("method", method)]))
            handlers[key] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    /// Frames refused before their caller was authenticated: `overloaded` (the in-flight bound) or
    /// `unknown_key_flood` (the shared failure bucket of unknown keys was empty).
    static let shedOverloaded = Counter(label: "smrtchat_frames_shed_total", dimensions: [("reason", "overloaded")])
    static let shedUnknownKeys = Counter(label: "smrtchat_frames_shed_total", dimensions: [("reason", "unknown_key_flood")])
    /// RATE_LIMITED answers by bucket: `key`, `tenant`, `auth_failures`.
    static let rateLimitedKey = Counter(label: "smrtchat_rate_limited_total", dimensions: [("limit", "key")])
    static let rateLimitedTenant = Counter(label: "smrtchat_rate_limited_total", dimensions: [("limit", "tenant")])
    static let rateLimitedFailures = Counter(label: "smrtchat_rate_limited_total", dimensions: [("limit", "auth_failures")])
    /// Mutations answered from the replay window (a resend) instead of running again.
    static let replayHits = Counter(label: "smrtchat_replay_hits_total")
    /// Events handed to the PUB socket.
    static let eventsPublished = Counter(label: "smrtchat_events_published_total")
    /// Lists and searches waiting for a reader thread.
    static let readQueueDepth = Gauge(label: "smrtchat_read_queue_depth")
}
