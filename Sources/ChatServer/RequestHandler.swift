import ChatAPI
import ChatCore
import Crypto
import Foundation
import Logging
import SwiftProtobuf

/// Turns one request frame into one response frame: envelope, authentication, grants, deadline, rate,
/// then the operation, in the order of SPEC §12.1. Never throws and never traps on bad input.
final class RequestHandler: Sendable {
    private let configuration: ServerConfiguration
    private let storage: any ChatStorage
    private let domain: ChatDomain
    private let gate: FrameGate
    private let recentReads: RecentRequests
    private let keys = ApiKeyCache()
    /// List and search calls, at the lowest priority (README: how the server is built).
    private let bulkReads: WorkerThreads
    private let keyLimiter: RateLimiter
    private let tenantLimiter: RateLimiter
    private let logger: Logger
    static let health = RequestSigning.methodName("Health")
    static let serverInfo = RequestSigning.methodName("ServerInfo")

    init(configuration: ServerConfiguration, storage: any ChatStorage, domain: ChatDomain, logger: Logger) {
        self.configuration = configuration
        self.storage = storage
        self.domain = domain
        self.logger = logger
        gate = FrameGate(methods: MethodTable.build(includeEntities: configuration.payloadMode == .full), domain: domain,
                         signatureWindowMs: configuration.signatureWindowMs)
        recentReads = RecentRequests(windowMs: 2 * configuration.signatureWindowMs)
        keyLimiter = RateLimiter(rate: configuration.keyRatePerSecond, burst: configuration.keyBurst)
        tenantLimiter = RateLimiter(rate: configuration.tenantRatePerSecond, burst: configuration.tenantBurst)
        bulkReads = WorkerThreads("smrt.chat.reads", threads: max(1, ProcessInfo.processInfo.activeProcessorCount / 2),
                                  background: true)
    }

    /// Finishes the queued list and search calls and ends their threads.
    func stop() { bulkReads.stop() }

    /// Answers a request frame through `reply`: at once for failures and reads, after the commit for
    /// mutations (from the write path's thread, so the receiving thread is free for the next frame).
    func handle(_ frame: [UInt8], reply: @escaping @Sendable ([UInt8]) -> Void) {
        let request: Smrt_Chat_V1_RpcRequest
        do {
            request = try Smrt_Chat_V1_RpcRequest(serializedBytes: frame)
        } catch {
            return reply(encode(requestId: "", error: ChatError.validation("request", "is not an RpcRequest")))
        }
        let requestId = request.context.requestID
        let logger = self.logger
        let answer: @Sendable (Result<[UInt8], Error>) -> Void = { result in
            switch result {
            case .success(let bytes):
                reply(bytes)
            case .failure(let error as ChatError):
                reply(Self.encode(requestId: requestId, error: error))
            case .failure(let error):
                logger.error("call failed", metadata: ["chat.method": "\(request.method)",
                                                        "chat.request_id": "\(requestId)", "error": "\(error)"])
                reply(Self.encode(requestId: requestId, error: .internal))
            }
        }
        let run = { [self] in
            do {
                if let bytes = try handle(request, frame: frame, later: answer) { answer(.success(bytes)) }
            } catch {
                answer(.failure(error))
            }
        }
        if gate.methods[request.method]?.isBulkRead == true { bulkReads.submit(run) } else { run() }
    }

    /// The response of a read or an early failure, or nil when a mutation will answer through `later`.
    private func handle(_ request: Smrt_Chat_V1_RpcRequest, frame: [UInt8],
                        later: @escaping @Sendable (Result<[UInt8], Error>) -> Void) throws -> [UInt8]? {
        let now = domain.clock()
        if request.method == Self.health || request.method == Self.serverInfo {
            return encode(requestId: String(request.context.requestID.prefix(64)), payload: try info(request.method, now: now))
        }
        let (method, call) = try gate.admit(request)
        let context = request.context

        // (2)–(5): credentials against the cached key when there is one (ApiKeyCache), else the database's
        // row. A mutation then checks the key is still active and its replay row inside the write
        // transaction; a read does both in the snapshot it reads from.
        let hash = Array(SHA256.hash(data: frame))
        if method.mutates {
            let keyId = request.auth.keyID
            let actor: CallActor
            if let checked = cachedActor(request, method: method, now: now) {
                actor = checked
            } else {
                let key = try storage.readBlocking { tx in try tx.apiKey(id: keyId) }
                keys.update(keyId, key)
                actor = try gate.authenticate(request, key: key, method: method, now: now)
            }
            try limit(request, actor)
            let keys = self.keys
            mutate(call, actor: actor, keyId: keyId, requestId: context.requestID, hash: hash, now: now) { result in
                if case .failure(let error as ChatError) = result, error.reason == .invalidKey { keys.forget(keyId) }
                later(result)
            }
            return nil
        }
        if let seen = recentReads.hash(keyId: request.auth.keyID, requestId: context.requestID), seen != hash {
            // Refused only once the credentials check out, as the database path below does.
            _ = try storage.readBlocking { tx in try authorize(request, key: try tx.apiKey(id: request.auth.keyID),
                                                                method: method, now: now) }
            throw Self.reused
        }
        let domain = self.domain
        let keyId = request.auth.keyID
        let checked = cachedActor(request, method: method, now: now)
        if let checked { try limit(request, checked) }
        let payload = try storage.readBlocking { [keys] tx -> Data in
            let actor: CallActor
            if let checked {
                guard try tx.apiKeyIsActive(id: keyId) else {
                    keys.forget(keyId)
                    throw Self.revoked
                }
                actor = checked
            } else {
                let key = try tx.apiKey(id: keyId)
                keys.update(keyId, key)
                actor = try authorize(request, key: key, method: method, now: now)
            }
            if let seen = try tx.replayEntry(keyId: keyId, requestId: context.requestID), seen.frameHash != hash {
                throw Self.reused
            }
            return try call.run(domain, tx, actor)
        }
        // Remember the read's request id without waiting for the commit: a concurrent changed reuse of a
        // read id can only get a read answered, never a write executed.
        recentReads.record(keyId: request.auth.keyID, requestId: context.requestID, hash: hash, now: now)
        let entry = ReplayEntry(keyId: request.auth.keyID, requestId: context.requestID, frameHash: hash, response: nil,
                                createdAt: now)
        storage.writeDetached { tx in _ = try tx.insertReplayEntry(entry) }
        return encode(requestId: context.requestID, payload: payload)
    }

    /// The caller authenticated against the cached copy of its key; nil when the key is not cached or any
    /// check fails (the caller then decides on the database's row, so refusals keep their precedence).
    private func cachedActor(_ request: Smrt_Chat_V1_RpcRequest, method: MethodSpec, now: Int64) -> CallActor? {
        guard let cached = keys.key(request.auth.keyID) else { return nil }
        return try? gate.authenticate(request, key: cached, method: method, now: now)
    }

    /// Steps (2)–(5) of SPEC §12.1: credentials, signature, timestamp, tenant and scope, deadline, rate.
    private func authorize(_ request: Smrt_Chat_V1_RpcRequest, key: ApiKey?, method: MethodSpec, now: Int64) throws
        -> CallActor {
        let actor = try gate.authenticate(request, key: key, method: method, now: now)
        try limit(request, actor)
        return actor
    }

    /// Step (5): the key's and the tenant's token buckets.
    private func limit(_ request: Smrt_Chat_V1_RpcRequest, _ actor: CallActor) throws {
        if let wait = keyLimiter.take(request.auth.keyID) ?? tenantLimiter.take(actor.tenantId) {
            throw ChatError(.resourceExhausted, .rateLimited, "too many requests", metadata: ["retry_after_ms": String(wait)])
        }
    }

    /// A mutation: replay check, the operation, and its stored response, all in one transaction.
    private func mutate(_ call: PreparedCall, actor: CallActor, keyId: String, requestId: String, hash: [UInt8],
                        now: Int64, completion: @escaping @Sendable (Result<[UInt8], Error>) -> Void) {
        let domain = self.domain
        storage.submitWrite({ tx -> [UInt8] in
            guard try tx.apiKeyIsActive(id: keyId) else { throw Self.revoked }
            if let seen = try tx.replayEntry(keyId: keyId, requestId: requestId) {
                guard seen.frameHash == hash else { throw Self.reused }
                if let response = seen.response { return response }
            }
            let response: [UInt8]
            do {
                let payload = try tx.savepoint { try call.run(domain, tx, actor) }
                response = Self.encode(requestId: requestId, payload: payload)
            } catch let refusal as CommitThenFail {
                response = Self.encode(requestId: requestId, error: refusal.error)
            } catch let error as ChatError {
                response = Self.encode(requestId: requestId, error: error)
            }
            _ = try tx.insertReplayEntry(ReplayEntry(keyId: keyId, requestId: requestId, frameHash: hash,
                                                     response: response, createdAt: now))
            return response
        }, completion: { result in completion(result.map { $0.value }) })
    }

    private static let revoked = ChatError(.unauthenticated, .invalidKey, "unknown or revoked key")

    private static let reused = ChatError(.unauthenticated, .requestIdReused,
                                          "this request id was already used for a different request")

    private func info(_ method: String, now: Int64) throws -> Data {
        if method == Self.health {
            return try Smrt_Chat_V1_HealthResponse.with {
                $0.status = "SERVING"
                $0.serverTimeUnixMs = now
            }.serializedData()
        }
        return try Smrt_Chat_V1_ServerInfoResponse.with {
            $0.version = SmrtChatVersion.current
            $0.api = "smrt.chat.v1"
            $0.eventPayloadMode = configuration.payloadMode.rawValue
            $0.eventsEndpoint = configuration.eventsEndpoint
            $0.maxFrameBytes = Int64(configuration.maxFrameBytes)
            $0.signatureWindowMs = configuration.signatureWindowMs
            $0.eventRetentionSeconds = configuration.eventRetentionSeconds
            $0.maxPageSize = Int32(configuration.limits.maxPageSize)
            $0.serverTimeUnixMs = now
        }.serializedData()
    }

    private func encode(requestId: String, payload: Data) -> [UInt8] { Self.encode(requestId: requestId, payload: payload) }
    private func encode(requestId: String, error: ChatError) -> [UInt8] { Self.encode(requestId: requestId, error: error) }

    static func encode(requestId: String, payload: Data) -> [UInt8] {
        var response = Smrt_Chat_V1_RpcResponse()
        response.requestID = requestId
        response.status = Smrt_Chat_V1_Status()
        response.payload = payload
        return (try? response.serializedBytes()) ?? []
    }

    static func encode(requestId: String, error: ChatError) -> [UInt8] {
        var response = Smrt_Chat_V1_RpcResponse()
        response.requestID = String(requestId.prefix(64))
        response.status = error.wireStatus
        return (try? response.serializedBytes()) ?? []
    }
}

/// The server's version string.
public enum SmrtChatVersion {
    public static let current = "0.1.0"
}
