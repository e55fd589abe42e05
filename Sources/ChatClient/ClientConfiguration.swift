import Foundation

/// How a `ChatClient` reaches the service and on whose behalf it calls.
public struct ClientConfiguration: Sendable {
    /// REP endpoints; a REQ socket connected to all of them balances calls and fails over.
    public var rpcEndpoints: [String]
    /// PUB endpoints of every instance, for event subscriptions.
    public var eventsEndpoints: [String]
    public var tenantId: String
    public var actorProfileId: String
    /// The service key; nil only for Health and ServerInfo.
    public var keyId: String?
    public var secret: [UInt8]
    /// How long one call waits for its reply before it fails with DEADLINE_EXCEEDED (milliseconds).
    public var timeoutMs: Int = 5000
    /// After how long nanomsg resends the same frame when no reply came (milliseconds); 0 (the default): never on a
    /// timer. nanomsg still resends a call at once when the connection that carried it is lost (another instance
    /// answers it), and `retries` resends it after a timeout. With nanomsg 1.1.5 a timed resend can corrupt the REQ
    /// socket's memory: the test process aborted in `nn_req_term` (chunk tag assertion) when it closed its sockets
    /// after calls that outlasted a 1 s interval, 4 times in 18 runs of one test, never in 18 with the timer off.
    public var resendIntervalMs: Int = 0
    /// Extra attempts of the identical frame after a timeout (same request id: executed at most once).
    public var retries: Int = 1
    /// Sockets kept for concurrent calls (each carries one call at a time).
    public var connections: Int = 4
    /// The largest reply or event accepted, in bytes (nanomsg's default is 1 MiB). The server ends a page
    /// before its reply passes 4 MiB (`maxReplyBytes` in the README's limits), so this leaves room.
    public var maxReceiveBytes: Int = 16 << 20

    public init(
        rpcEndpoints: [String], eventsEndpoints: [String] = [], tenantId: String, actorProfileId: String,
        keyId: String? = nil, secret: [UInt8] = []
    ) {
        self.rpcEndpoints = rpcEndpoints
        self.eventsEndpoints = eventsEndpoints
        self.tenantId = tenantId
        self.actorProfileId = actorProfileId
        self.keyId = keyId
        self.secret = secret
    }
}

/// A failed call: the server's Status, or a local failure (timeout, transport) with a matching code.
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    /// gRPC canonical code number (see `Smrt_Chat_V1_Code`).
    public var code: Int
    /// Machine reason, e.g. NOT_MEMBER.
    public var reason: String
    public var message: String
    public var metadata: [String: String]

    public init(code: Int, reason: String, message: String, metadata: [String: String] = [:]) {
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata = metadata
    }

    public var description: String { "RPCError(\(code) \(reason): \(message))" }

    static func local(_ code: Int, _ reason: String, _ message: String) -> RPCError {
        RPCError(code: code, reason: reason, message: message)
    }
}
