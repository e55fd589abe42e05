import ChatAPI
import ChatCore
import Crypto
import Tracing
import Foundation
import Logging
import SwiftProtobuf
import Synchronization

/// Turns one request frame into one response frame: envelope, authentication, grants, deadline, rate,
/// then the operation, in the order of SPEC §12.1. Never throws and never traps on bad input.
///
/// Everything before the operation runs on the receiving thread, so nothing is queued for a caller that
/// has not authenticated: list and search calls wait for a reader thread only once their signature
/// checked out, in a queue bounded by count and bytes. Failed authentication is rate limited too, per
/// claimed key (all unknown keys share one bucket), so forged traffic cannot buy database lookups.
final class RequestHandler: Sendable {
    private let configuration: ServerConfiguration
    private let storage: any ChatStorage
    private let domain: ChatDomain
    private let gate: FrameGate
    private let recentReads: RecentRequests
    private let keys = ApiKeyCache()
    /// List and search calls, at the lowest priority (README: how the server is built).
    private let bulkReads: WorkerThreads
    private let bulkQueue: AdmissionLimit
    private let stopping = Atomic<Bool>(false)
    private let keyLimiter: RateLimiter
    private let tenantLimiter: RateLimiter
    /// Failed authentications per claimed key id ("?" for every key id this process does not know).
    private let failureLimiter: RateLimiter
    private let logger: Logger
    static let health = RequestSigning.methodName("Health")
    static let serverInfo = RequestSigning.methodName("ServerInfo")

    init(configuration: ServerConfiguration, storage: any ChatStorage, domain: ChatDomain, logger: Logger) {
        self.configuration = configuration
        self.storage = storage
        self.domain = domain
        self.logger = logger
        gate = FrameGate(methods: MethodTable.build(includeEntities: configuration.payloadMode == .full,
                                                    historyCache: HistoryCache()), domain: domain,
                         signatureWindowMs: configuration.signatureWindowMs)
        recentReads = RecentRequests(windowMs: 2 * configuration.signatureWindowMs)
        keyLimiter = RateLimiter(rate: configuration.keyRatePerSecond, burst: configuration.keyBurst)
        tenantLimiter = RateLimiter(rate: configuration.tenantRatePerSecond, burst: configuration.tenantBurst)
        failureLimiter = RateLimiter(rate: configuration.keyRatePerSecond, burst: configuration.keyBurst)
        // One per core: at SCHED_IDLE they take only what the other threads leave, so they use every core when
        // nothing else runs and give way at once when writes come (a priority, not a lane).
        bulkReads = WorkerThreads("smrt.chat.reads", threads: max(1, ProcessInfo.processInfo.activeProcessorCount),
                                  background: true)
        bulkQueue = AdmissionLimit(calls: configuration.maxQueuedReads, bytes: configuration.maxQueuedReadBytes)
        // Every existing key is known from the start, so a flood of made-up key ids (which shares one failure
        // bucket) cannot keep them out after a restart; only keys created since then are looked up.
        do {
            for key in try storage.read({ tx in try tx.apiKeys() }).prefix(ApiKeyCache.defaultCapacity) {
                keys.update(key.keyId, key)
            }
        } catch {
            logger.warning("could not preload the service keys", metadata: ["error": "\(error)"])
        }
    }

    /// The status codes' names as metric labels (`OK`, `INVALID_ARGUMENT`…).
    static let codeNames: [Smrt_Chat_V1_Code: String] = Dictionary(uniqueKeysWithValues: Smrt_Chat_V1_Code.allCases.map { code in
        (code, String(describing: code).replacingOccurrences(of: "([a-z])([A-Z])", with: "$1_$2", options: .regularExpression)
            .uppercased())
    })

    /// The status of an encoded response (this server's own encoding: request id, status, then payload), nil when
    /// it has none (OK). Reads the fields before the payload only.
    static func status(of response: [UInt8]) -> Smrt_Chat_V1_Status? {
        func varint(_ at: Int) -> (UInt64, Int)? {
            var value: UInt64 = 0
            var i = at
            for shift in stride(from: 0, to: 64, by: 7) {
                guard i < response.count else { return nil }
                let byte = response[i]
                i += 1
                value |= UInt64(byte & 0x7f) << UInt64(shift)
                if byte & 0x80 == 0 { return (value, i) }
            }
            return nil
        }
        var i = 0
        while let (key, afterKey) = varint(i), key & 7 == 2, let (length, start) = varint(afterKey),
              length <= UInt64(response.count - start) {
            let end = start + Int(length)
            switch key >> 3 {
            case 2: return try? Smrt_Chat_V1_Status(serializedBytes: response[start..<end])
            case 3: return nil
            default: i = end
            }
        }
        return nil
    }

    /// What every log line about a call carries: method, tenant, key id, request id and status (never contents,
    /// secrets or signatures). Identifiers are cut to 128 bytes: a caller chooses them.
    static func callMetadata(_ request: Smrt_Chat_V1_RpcRequest, status: String) -> Logger.Metadata {
        ["chat.method": "\(request.method.prefix(128))", "chat.tenant": "\(request.context.tenantID.prefix(128))",
         "chat.key_id": "\(request.auth.keyID.prefix(128))", "chat.request_id": "\(request.context.requestID.prefix(128))",
         "chat.status": "\(status)"]
    }

    /// Answers the queued list and search calls UNAVAILABLE without running them, and ends their threads.
    func stop() {
        stopping.store(true, ordering: .releasing)
        bulkReads.stop()
    }

    /// Answers a request frame through `reply`: at once for failures and most reads, from a reader thread
    /// for lists and searches, after the commit for mutations (from the write path's completion thread).
    /// `beforeLongWork` is called, on this thread, before work that may take long: a mutation (the write path may
    /// commit it here, and a commit may wait) or a read of more than one entity (an export page, a page of events).
    ///
    /// `alone`: no other call was in flight or queued when this frame was received. Only then may a mutation commit on
    /// this thread (no writer wake-up on a lone caller's path); otherwise it goes to the writer thread, to share a
    /// commit with the calls queued behind it.
    func handle(_ frame: [UInt8], alone: Bool = true, beforeLongWork: () -> Void = {},
                reply: @escaping @Sendable ([UInt8]) -> Void) {
        let request: Smrt_Chat_V1_RpcRequest
        do {
            request = try Smrt_Chat_V1_RpcRequest(serializedBytes: frame)
        } catch {
            return reply(encode(requestId: "", error: ChatError.validation("request", "is not an RpcRequest")))
        }
        let requestId = request.context.requestID
        let logger = self.logger
        let started = DispatchTime.now().uptimeNanoseconds
        let debug = logger.logLevel <= .debug
        // The method's metric label (`unknown` for any other string, which is not hashed when longer than a name).
        let method = request.method.utf8.count > 128 ? "unknown" : gate.methods[request.method]?.name
            ?? (request.method == Self.health ? "Health" : request.method == Self.serverInfo ? "ServerInfo" : "unknown")
        let traceparent = CallTrace.valid(request.context.traceparent)
        let span = CallTrace.span(method: method, traceparent: traceparent)
        // Work that must happen for the call but not before its reply (a read's request id recorded in the database).
        let afterReply = Mutex<(@Sendable () -> Void)?>(nil)
        let answer: @Sendable (Result<[UInt8], Error>) -> Void = { result in
            let bytes: [UInt8]
            switch result {
            case .success(let encoded):
                bytes = encoded
            case .failure(let error as ChatError):
                bytes = Self.encode(requestId: requestId, error: error)
            case .failure(let error):
                var metadata = Self.callMetadata(request, status: "INTERNAL")
                metadata["error"] = "\(String(reflecting: error))"
                if let traceparent { metadata["chat.traceparent"] = "\(traceparent)" }
                logger.error("call failed", metadata: metadata)
                bytes = Self.encode(requestId: requestId, error: .internal)
            }
            reply(bytes)
            afterReply.withLock { $0.take() }?()
            let elapsed = DispatchTime.now().uptimeNanoseconds &- started
            // The status as answered (a replayed or recorded refusal is an encoded response too), read without
            // decoding the payload.
            let answered = Self.status(of: bytes)
            let code = Self.codeNames[answered?.code ?? .ok] ?? "UNKNOWN"
            ServerMetrics.call(method: method, status: code, nanoseconds: elapsed)
            if let span {
                span.attributes["rpc.method"] = method
                span.attributes["rpc.smrtchat.status"] = code
                if answered.map({ $0.code != .ok }) ?? false { span.setStatus(SpanStatus(code: .error)) }
                span.end()
            }
            if debug {
                let status = answered.map { $0.code == .ok ? "OK" : $0.reason } ?? "OK"
                var metadata = Self.callMetadata(request, status: status)
                metadata["chat.duration_us"] = "\(elapsed / 1000)"
                if let traceparent { metadata["chat.traceparent"] = "\(traceparent)" }
                logger.debug("call", metadata: metadata)
            }
        }
        do {
            if let bytes = try handle(request, frame: frame, alone: alone, later: answer, beforeLongWork: beforeLongWork,
                                      afterReply: { job in afterReply.withLock { $0 = job } }) {
                answer(.success(bytes))
            }
        } catch {
            answer(.failure(error))
        }
    }

    /// The reply to a frame refused before it is read at all (the server's in-flight bound).
    static func overloaded(_ frame: [UInt8]) -> [UInt8] {
        let requestId = (try? Smrt_Chat_V1_RpcRequest(serializedBytes: frame))?.context.requestID ?? ""
        return encode(requestId: requestId, error: overloadedError)
    }

    private static let overloadedError = ChatError(.resourceExhausted, .overloaded, "the server is busy: retry later",
                                                   metadata: ["retry_after_ms": "100"])

    /// The response of a read or an early failure, or nil when the answer comes later through `later`.
    ///
    /// The stages of a call, in SPEC §12.1's order: **admit** (envelope, method, context; floods from unknown keys
    /// shed), **authenticate** (key and signature), **authorize** (tenant and scope, then the payload, decoded only
    /// now, the rate limits and the deadline), **execute** (a read on a snapshot here or on a reader thread; a
    /// mutation on the write path, which also **records** its response in the replay window in the same commit),
    /// and **reply**. The storage never calls back into these stages: it runs the body it is given.
    private func handle(_ request: Smrt_Chat_V1_RpcRequest, frame: [UInt8], alone: Bool,
                        later: @escaping @Sendable (Result<[UInt8], Error>) -> Void, beforeLongWork: () -> Void,
                        afterReply: (@escaping @Sendable () -> Void) -> Void) throws -> [UInt8]? {
        let now = domain.clock()
        if request.method == Self.health || request.method == Self.serverInfo {
            return encode(requestId: String(request.context.requestID.prefix(64)), payload: try info(request.method, now: now))
        }
        let method = try admit(request)
        let context = request.context
        let keyId = request.auth.keyID
        let (actor, cached) = try authenticate(request, method: method, now: now)
        let hash = Array(SHA256.hash(data: frame))
        let call = try authorize(request, method: method, actor: actor, hash: hash, now: now, afterReply: afterReply)

        if method.mutates {
            let keys = self.keys
            beforeLongWork()
            executeAndRecord(call, actor: actor, keyId: keyId, requestId: context.requestID, hash: hash,
                             deadline: context.deadlineUnixMs, now: now, alone: alone) { result in
                if case .failure(let error as ChatError) = result, error.reason == .invalidKey { keys.forget(keyId) }
                later(result)
            }
            return nil
        }

        let domain = self.domain
        let read: @Sendable () throws -> [UInt8] = { [storage, keys] in
            if method.searchesMessages { try storage.awaitSearchIndex() }
            let payload = try storage.read { tx -> Data in
                // A key taken from the cache is checked for revocation in the read's own snapshot (one statement
                // with the request id's record).
                let (keyActive, seen) = try tx.callRecord(keyId: keyId, requestId: context.requestID)
                if cached, !keyActive {
                    keys.forget(keyId)
                    throw Self.revoked
                }
                if let seen, seen.frameHash != hash { throw Self.reused }
                return try call.run(domain, tx, actor).get()
            }
            return Self.encode(requestId: context.requestID, payload: payload)
        }
        guard method.isBulkRead else {
            if !method.isPointRead { beforeLongWork() }
            return try read()
        }
        guard bulkQueue.admit(bytes: frame.count) else { throw Self.overloadedError }
        ServerMetrics.readQueueDepth.record(bulkQueue.calls)
        bulkReads.submit { [self, frameBytes = frame.count] in
            defer {
                bulkQueue.release(bytes: frameBytes)
                ServerMetrics.readQueueDepth.record(bulkQueue.calls)
            }
            if stopping.load(ordering: .acquiring) {
                return later(.failure(ChatError(.unavailable, .overloaded, "the server is shutting down")))
            }
            // A page waits (up to `bulkYield`) while writes are queued: its reply, its caller's next request and the
            // record of its request id run at normal priority, and readers paging flat out took a third of the sends.
            storage.yieldToWrites(upTo: Self.bulkYield)
            later(Result { try read() })
        }
        return nil
    }

    /// Stage **admit**: the envelope's method and context. Under a flood of calls from no known key they are shed
    /// before anything else is read (the one place where the rate step comes before the shape step of SPEC §12.1).
    private func admit(_ request: Smrt_Chat_V1_RpcRequest) throws -> MethodSpec {
        if keys.key(request.auth.keyID) == nil, let wait = failureLimiter.exhausted(Self.unknownKeys) {
            ServerMetrics.shedUnknownKeys.increment()
            throw Self.rateLimited(wait)
        }
        return try gate.admit(request)
    }

    /// Stage **authorize** (tenant and scope were checked with the signature): the payload, decoded only now, then
    /// the rate limits. A payload the method refuses still takes the authenticated call's request id. A mutation
    /// whose deadline passed skips the limits and still goes to the writer: if it (or an identical frame) is
    /// queued or committed, the caller gets that original answer, else DEADLINE_EXCEEDED (SPEC §7.4); a read's
    /// deadline is checked once its request id is remembered.
    private func authorize(_ request: Smrt_Chat_V1_RpcRequest, method: MethodSpec, actor: CallActor, hash: [UInt8],
                           now: Int64, afterReply: (@escaping @Sendable () -> Void) -> Void) throws -> PreparedCall {
        let call: PreparedCall
        do {
            call = try method.prepare(request.payload)
        } catch {
            remember(request, hash: hash, now: now, afterReply: afterReply)
            throw error
        }
        // A read's request id is remembered once its caller authenticated, whatever the read's outcome: it can
        // never be reused with another frame.
        if !method.mutates {
            guard remember(request, hash: hash, now: now, afterReply: afterReply) else { throw Self.reused }
            if FrameGate.deadlinePassed(request, now: now) { throw FrameGate.deadlineExceeded }
        }
        if !FrameGate.deadlinePassed(request, now: now) { try limit(request, actor) }
        return call
    }

    /// Records an authenticated call's request id with its frame hash, here at once and in the database's replay cache
    /// once the call is answered (`afterReply`; queued without waiting for the commit), so that another frame can never
    /// reuse it. Queuing it after the reply keeps the writer's wake-up off the read's path; this instance refuses
    /// another frame with the id from the moment it is recorded here. Returns false when this process recorded the id
    /// with another frame (nothing is recorded then); an id recorded with this frame is not queued again.
    @discardableResult
    private func remember(_ request: Smrt_Chat_V1_RpcRequest, hash: [UInt8], now: Int64,
                          afterReply: (@escaping @Sendable () -> Void) -> Void) -> Bool {
        let (keyId, requestId) = (request.auth.keyID, request.context.requestID)
        if let seen = recentReads.record(keyId: keyId, requestId: requestId, hash: hash, now: now) { return seen == hash }
        let entry = ReplayEntry(keyId: keyId, requestId: requestId, frameHash: hash, response: nil, createdAt: now)
        afterReply { [storage, logger] in
            storage.submitWrite({ tx in _ = try tx.insertReplayEntry(entry) }, options: .background) { result in
                if case .failure(let error) = result {
                    logger.debug("request id not recorded",
                                 metadata: Self.callMetadata(request, status: "-").merging(["error": "\(error)"]) { $1 })
                }
            }
        }
        return true
    }

    /// Steps (2)–(3): the caller's key, from the cache when it checks out there, else from the database.
    /// Returns the actor and whether the key came from the cache (its revocation is then checked in the
    /// call's own transaction or snapshot). A failure takes a token of the failure bucket; with none left
    /// the caller gets RATE_LIMITED instead, and an unknown key no database lookup.
    private func authenticate(_ request: Smrt_Chat_V1_RpcRequest, method: MethodSpec, now: Int64) throws
        -> (CallActor, cached: Bool) {
        let keyId = request.auth.keyID
        let cachedKey = keys.key(keyId)
        if let cachedKey, let actor = try? gate.authenticate(request, key: cachedKey.key, keyed: cachedKey.mac,
                                                             method: method, now: now) {
            return (actor, true)
        }
        let bucket = cachedKey == nil ? Self.unknownKeys : keyId
        if let wait = failureLimiter.exhausted(bucket) {
            ServerMetrics.rateLimitedFailures.increment()
            throw Self.rateLimited(wait)
        }
        do {
            try gate.requireCredentials(request)
            let key = try storage.read { tx in try tx.apiKey(id: keyId) }
            let entry = keys.update(keyId, key)
            return (try gate.authenticate(request, key: key, keyed: entry?.mac, method: method, now: now), false)
        } catch let error as ChatError where error.code == .unauthenticated || error.code == .permissionDenied {
            _ = failureLimiter.take(bucket)
            if error.code == .permissionDenied, method.scopes.contains(.admin) {
                auditDenied(request, method: method, error: error, now: now)
            }
            throw error
        }
    }

    /// Records an admin operation refused to a key whose signature checked out (its scope or tenant), without
    /// waiting for the commit.
    private func auditDenied(_ request: Smrt_Chat_V1_RpcRequest, method: MethodSpec, error: ChatError, now: Int64) {
        var detail = JSONText(capacity: 64)
        detail.beginObject()
        detail.key("reason")
        detail.string(error.reason.rawValue)
        detail.endObject()
        let entry = AuditEntry(at: now, actor: "key:" + request.auth.keyID, action: .adminDenied,
                               tenantId: request.context.tenantID, subject: method.name, outcome: .denied,
                               detail: detail.text)
        let status = error.reason.rawValue
        storage.submitWrite({ tx in try tx.appendAudit(entry) }, options: .background) { [logger] result in
            if case .failure(let error) = result {
                logger.warning("audit line not recorded",
                               metadata: Self.callMetadata(request, status: status).merging(["error": "\(error)"]) { $1 })
            }
        }
    }

    /// Step (5): the key's and the tenant's token buckets.
    private func limit(_ request: Smrt_Chat_V1_RpcRequest, _ actor: CallActor) throws {
        if let wait = keyLimiter.take(request.auth.keyID) {
            ServerMetrics.rateLimitedKey.increment()
            throw Self.rateLimited(wait)
        }
        if let wait = tenantLimiter.take(actor.tenantId) {
            ServerMetrics.rateLimitedTenant.increment()
            throw Self.rateLimited(wait)
        }
    }

    /// How long a list or search call gives way to queued writes before it runs anyway (README: how the server is built).
    static let bulkYield: TimeInterval = 0.02

    /// The failure bucket shared by every key id this process does not know, and by calls with no key.
    private static let unknownKeys = "?"

    private static func rateLimited(_ waitMs: Int64) -> ChatError {
        ChatError(.resourceExhausted, .rateLimited, "too many requests", metadata: ["retry_after_ms": String(waitMs)])
    }

    /// Stages **execute** and **record** of a mutation, on the write path in one transaction: the key's activity and
    /// the call's record, the deadline, the operation, and its response recorded for replays (the record is the
    /// encoded response, so it is encoded here, inside the commit that records it).
    private func executeAndRecord(_ call: PreparedCall, actor: CallActor, keyId: String, requestId: String, hash: [UInt8],
                        deadline: Int64, now: Int64, alone: Bool,
                        completion: @escaping @Sendable (Result<[UInt8], Error>) -> Void) {
        let domain = self.domain
        storage.submitWrite({ tx -> [UInt8] in
            let (keyActive, seen) = try tx.callRecord(keyId: keyId, requestId: requestId)
            guard keyActive else { throw Self.revoked }
            if let seen {
                guard seen.frameHash == hash else { throw Self.reused }
                if let response = seen.response {
                    ServerMetrics.replayHits.increment()
                    return response
                }
            }
            let response: [UInt8]
            if deadline > 0 && domain.clock() >= deadline {
                // Checked again when the writer takes the call: a call that waited past its deadline is not run.
                response = Self.encode(requestId: requestId, error: FrameGate.deadlineExceeded)
            } else {
                do {
                    switch try tx.savepoint({ try call.run(domain, tx, actor) }) {
                    case .value(let payload): response = Self.encode(requestId: requestId, payload: payload)
                    case .refused(let refusal): response = Self.encode(requestId: requestId, error: refusal)
                    }
                } catch let error as ChatError {
                    response = Self.encode(requestId: requestId, error: error)
                }
            }
            _ = try tx.insertReplayEntry(ReplayEntry(keyId: keyId, requestId: requestId, frameHash: hash,
                                                     response: response, createdAt: now, tenantId: actor.tenantId,
                                                     actorProfileId: actor.profileId))
            return response
        }, options: WriteOptions(call: CallKey(keyId: keyId, requestId: requestId),
                                 room: call.roomId.map { RoomAccess(tenantId: actor.tenantId, roomId: $0, profileId: actor.profileId) },
                                 mayCommitOnCallerThread: alone),
           completion: completion)
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

    /// The bytes SwiftProtobuf makes of `RpcResponse { request_id, status: OK (an empty Status), payload }`, written
    /// directly: its fields in number order, an empty string or payload left out as proto3 does. Building the message
    /// and serializing it copied the payload once more and was 3% of the writer's CPU per send at 64 clients.
    static func encode(requestId: String, payload: Data) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(requestId.utf8.count + payload.count + 16)
        func field(_ number: UInt8, length: Int) {
            out.append(number << 3 | 2)  // wire type 2: length-delimited
            var value = UInt64(length)
            while value >= 0x80 {
                out.append(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            out.append(UInt8(value))
        }
        if !requestId.isEmpty {
            field(1, length: requestId.utf8.count)
            out += requestId.utf8
        }
        field(2, length: 0)
        if !payload.isEmpty {
            field(3, length: payload.count)
            out += payload
        }
        return out
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
