import ChatAPI
import Foundation
import SwiftProtobuf

/// The Swift client of the chat service: a typed async method per operation, signed calls, request
/// ids, timeouts, safe retries (the identical frame, so the server executes a call at most once), and
/// gap-free event subscriptions (`ChatClient+Events.swift`).
public final class ChatClient: Sendable {
    public let configuration: ClientConfiguration
    let pool: ConnectionPool

    /// Connects (lazily: nanomsg dials in the background) to the configured endpoints.
    ///
    /// - Throws: `NanomsgError` when a socket cannot be created or an endpoint is malformed.
    public init(_ configuration: ClientConfiguration) throws {
        self.configuration = configuration
        pool = ConnectionPool(try (0..<max(1, configuration.connections)).map { _ in
            try Connection(endpoints: configuration.rpcEndpoints, timeoutMs: configuration.timeoutMs,
                           resendIntervalMs: configuration.resendIntervalMs,
                           maxReceiveBytes: configuration.maxReceiveBytes)
        })
    }

    private init(configuration: ClientConfiguration, pool: ConnectionPool) {
        self.configuration = configuration
        self.pool = pool
    }

    /// The same connections and key, acting as another profile (and optionally tenant).
    public func acting(as profileId: String, tenant: String? = nil) -> ChatClient {
        var c = configuration
        c.actorProfileId = profileId
        if let tenant { c.tenantId = tenant }
        return ChatClient(configuration: c, pool: pool)
    }

    /// Closes the sockets.
    public func close() { pool.close() }

    /// A signed request frame for `operation`; `traceparent` (W3C trace context) continues the caller's trace.
    public func frame(_ operation: String, payload: Data, requestId: String = ChatClient.newRequestId(),
                      deadlineUnixMs: Int64 = 0, timestampUnixMs: Int64? = nil, traceparent: String? = nil) -> [UInt8] {
        var request = Smrt_Chat_V1_RpcRequest()
        request.method = RequestSigning.methodName(operation)
        request.payload = payload
        request.context.tenantID = configuration.tenantId
        request.context.actorProfileID = configuration.actorProfileId
        request.context.requestID = requestId
        request.context.deadlineUnixMs = deadlineUnixMs
        if let traceparent { request.context.traceparent = traceparent }
        if let keyId = configuration.keyId {
            let ts = timestampUnixMs ?? Int64(Date().timeIntervalSince1970 * 1000)
            request.auth.keyID = keyId
            request.auth.timestampUnixMs = ts
            request.auth.signature = RequestSigning.signature(
                secret: configuration.secret, method: request.method, tenantId: configuration.tenantId,
                actorProfileId: configuration.actorProfileId, requestId: requestId, timestampUnixMs: ts,
                payload: payload)
        }
        return (try? request.serializedBytes()) ?? []
    }

    /// A fresh request id: 12 hex digits of Unix milliseconds, then 20 random ones. Ids sort by time, so
    /// the server's replay cache (keyed by key id and request id) appends instead of touching a random page.
    public static func newRequestId() -> String {
        var random = SystemRandomNumberGenerator()
        let ms = UInt64(max(0, Date().timeIntervalSince1970 * 1000)) & 0xffff_ffff_ffff
        return String(format: "%012llx%016llx%04x", ms, random.next() as UInt64, UInt32(random.next() as UInt16))
    }

    /// Sends a prepared frame (retrying the identical bytes after a timeout) and decodes the reply.
    public func send<Response: SwiftProtobuf.Message>(frame: [UInt8], as: Response.Type = Response.self) async throws
        -> Response {
        let connection = await pool.acquire()
        defer { pool.release(connection) }
        var attempt = 0
        while true {
            do {
                return try Self.decode(try await connection.roundTrip(frame))
            } catch let error as RPCError where error.code == 4 && error.reason == "DEADLINE_EXCEEDED"
                && attempt < configuration.retries {
                attempt += 1
            }
        }
    }

    /// Calls `operation` with a signed request; throws `RPCError` on any non-OK status.
    public func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ operation: String, _ request: Request, as: Response.Type = Response.self,
        requestId: String = ChatClient.newRequestId()
    ) async throws -> Response {
        let payload = try request.serializedData()
        return try await send(frame: frame(operation, payload: payload, requestId: requestId))
    }

    /// `call` from a dedicated thread (event subscriptions): blocks the calling thread.
    func callBlocking<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ operation: String, _ request: Request, as: Response.Type = Response.self
    ) throws -> Response {
        let bytes = frame(operation, payload: try request.serializedData())
        let connection = pool.acquireBlocking()
        defer { pool.release(connection) }
        var attempt = 0
        while true {
            do {
                return try Self.decode(try connection.blockingRoundTrip(bytes))
            } catch let error as RPCError where error.code == 4 && attempt < configuration.retries {
                attempt += 1
            }
        }
    }

    static func decode<Response: SwiftProtobuf.Message>(_ bytes: [UInt8]) throws -> Response {
        let reply: Smrt_Chat_V1_RpcResponse
        do {
            reply = try Smrt_Chat_V1_RpcResponse(serializedBytes: bytes)
        } catch {
            throw RPCError.local(13, "INTERNAL", "the reply is not an RpcResponse")
        }
        guard reply.status.code == .ok else {
            throw RPCError(code: reply.status.code.rawValue, reason: reply.status.reason, message: reply.status.message,
                           metadata: reply.status.metadata)
        }
        do {
            return try Response(serializedBytes: reply.payload)
        } catch {
            throw RPCError.local(13, "INTERNAL", "the reply payload is not a \(Response.protoMessageName)")
        }
    }
}
