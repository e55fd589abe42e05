import ChatCore

/// Everything the network service can be told, with the defaults of SPEC §1. The storage is not here: the
/// executable builds it. Reading this from flags, environment or a file is the executable's job.
public struct ServerConfiguration: Sendable {
    /// How events carry their entity.
    public enum PayloadMode: String, Sendable, CaseIterable { case full, ids }

    /// REP endpoints calls are served on.
    public var rpcEndpoints = ["tcp://127.0.0.1:7450"]
    /// PUB endpoint events are published on (unauthenticated: keep it on loopback or ipc).
    public var eventsEndpoint = "tcp://127.0.0.1:7451"
    /// Threads receiving on the raw REP socket. Each runs reads and the checks of every call itself and
    /// hands mutations to the write path, which answers them after the commit, so a few threads suffice
    /// (more threads blocked on one nanomsg socket wake each other for nothing).
    public var workerThreads = 4
    /// Largest request frame; bigger frames are dropped by the transport.
    public var maxFrameBytes = 1 << 20
    /// Accepted signature timestamp skew, and how long request ids are remembered.
    public var signatureWindowMs: Int64 = 300_000
    /// Requests per second and burst per key; 0 turns the limit off.
    public var keyRatePerSecond: Double = 200
    public var keyBurst: Double = 400
    /// Requests per second and burst per tenant; 0 turns the limit off.
    public var tenantRatePerSecond: Double = 1000
    public var tenantBurst: Double = 2000
    /// Calls received and not yet answered, by count and by frame bytes; past either, new calls are answered
    /// RESOURCE_EXHAUSTED OVERLOADED at once (never queued).
    public var maxCallsInFlight = 4096
    public var maxBytesInFlight = 128 << 20
    /// List and search calls waiting for a reader thread, by count and bytes (they are authenticated first).
    public var maxQueuedReads = 256
    public var maxQueuedReadBytes = 32 << 20
    /// Where smrt-chatd serves its metrics (`GET /metrics`, Prometheus text format): `HOST:PORT`; empty: off.
    public var metricsAddress = ""
    /// How smrt-chatd writes its log lines: `text` (swift-log's stream format) or `json` (one object per line).
    public var logFormat = "text"
    public var payloadMode: PayloadMode = .full
    /// Event log retention.
    public var eventRetentionSeconds: Int64 = 7 * 24 * 3600
    /// How often retention and replay-cache purges run; 0 turns the job off.
    public var retentionIntervalSeconds: Int64 = 3600
    /// How often stale sessions are expired; 0 turns the job off.
    public var sessionExpiryIntervalSeconds: Int64 = 300
    /// Sessions idle longer than this are expired by the job (0: only sessions no longer active).
    public var sessionIdleSeconds: Int64 = 0
    /// How often idle streaming replies are finished, approvals expired and old reply deltas dropped (SPEC §13;
    /// their times are `limits.streamIdleSeconds`, `approvalTtlSeconds`, `deltaRetentionSeconds`); 0: off.
    public var streamJobIntervalSeconds: Int64 = 5
    /// PUB socket send buffer (bursts beyond it are dropped; consumers catch up from the log).
    public var publishBufferBytes = 4 << 20
    public var limits = ChatLimits()

    public init() {}

}
