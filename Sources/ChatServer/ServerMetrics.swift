import ChatCore
import Dispatch
import Instrumentation
import Metrics
import ServiceContextModule
import Synchronization
import Tracing

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
    /// Lists and searches admitted to the reader threads and not yet answered.
    static let readQueueDepth = Gauge(label: "smrtchat_read_queue_depth")
}

/// W3C trace context of a call (`CallContext.traceparent`): logged with the call and handed to the
/// swift-distributed-tracing API, so that a tracer bootstrapped in the process (an OpenTelemetry exporter, say)
/// continues the caller's trace with a span per call.
enum CallTrace {
    /// The value when it is a well-formed version-00 `traceparent` (55 characters, lowercase hex, ids not all
    /// zero); else nil (ignored, as the W3C specification asks).
    static func valid(_ value: String) -> String? {
        // The length first: the field is the caller's, up to a frame long, and this runs before authentication.
        guard value.utf8.count == 55 else { return nil }
        let bytes = Array(value.utf8)
        guard bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
              value.hasPrefix("00-") else { return nil }
        let hex = { (range: Range<Int>) in bytes[range].allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
        let zero = { (range: Range<Int>) in bytes[range].allSatisfy { $0 == UInt8(ascii: "0") } }
        guard hex(0..<2), hex(3..<35), hex(36..<52), hex(53..<55), !zero(3..<35), !zero(36..<52) else { return nil }
        return value
    }

    /// The process's tracer, looked up once, when the first call comes (the owner bootstraps tracing before it serves,
    /// as swift-distributed-tracing asks: once, at start); nil when none was bootstrapped. The lookup takes the
    /// system's lock and was ~2% of a call's CPU (perf, GetRoom at 1 client and SendMessage at 64).
    private static let tracer: (any Tracer)? = {
        let tracer = InstrumentationSystem.tracer
        return tracer is NoOpTracer ? nil : tracer
    }()

    /// A server span for the call, its parent taken from `traceparent` by the process's instrument; nil (no span)
    /// when no tracer is bootstrapped.
    static func span(method: String, traceparent: String?) -> (any Span)? {
        guard let tracer else { return nil }
        var context = ServiceContext.topLevel
        if let traceparent {
            InstrumentationSystem.instrument.extract(["traceparent": traceparent], into: &context, using: HeaderExtractor())
        }
        return tracer.startAnySpan(method, context: context, ofKind: .server)
    }

    private struct HeaderExtractor: Extractor {
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    }
}
