import ChatAPI
import ChatCore
import Foundation
import Logging
import Synchronization

/// The `signed` fuzz target: a mutated *description* of a call, signed by the harness, run through the whole
/// server handler (`RequestHandler`: gate, key lookup, replay cache, the operation, group commit) over a real
/// SQLite database with fixtures. Unlike `frame`, every mutated input passes the signature (unless its
/// description asks otherwise), so the fuzzer reaches the operations themselves.
///
/// Input layout (missing header bytes count as 0):
///
///     [0] method        index into `signedMethods` (sorted full names of every ChatService method), modulo
///     [1] key           0-127 sk_fuzz_all; else sk_fuzz_chat, _agent, _events, _admin, _revoked, _missing
///     [2] tenant        0-191 tenant-1, 192-223 tenant-2, else odd tenants (tenant-3, "", bad bytes, 129 bytes…)
///     [3] actor         0-95 alice, 96-143 bob, 144-175 agent:bot-1, 176-199 carol, 200-215 dave, else odd ones
///     [4] request id    0-175 fresh; 176-207 fresh and the frame sent twice (a byte-identical resend of a
///                       mutation must be answered with the same response, SPEC §7.4); 208-223 one of four
///                       fixed ids (reused across executions); 224-231 empty; 232-239 65 bytes; 240-247 64 bytes;
///                       248-255 non-ASCII
///     [5] timestamp     0-199 now + (b - 100) s; else edge values (window borders, 0, ±1, Int64.min/max…)
///     [6] deadline      0-127 none; 128-191 now + (b - 127) s; else edge values (now, now - 1, Int64.min/max…)
///     [7] signature     0-239 correct; 240-247 wrong secret; 248-251 empty signature; 252-255 no auth at all
///     [8...] payload    the method's request message (serialized protobuf). Top-level length-delimited fields
///                       holding exactly `@` + letter + digit are replaced by fixture ids before signing:
///                       `@r0`…`@r5` rooms, `@m0`…`@m6` messages, `@t0` `@t1` threads, `@s0`…`@s3` sessions
///                       (see `SignedHarness.makeTemplate`). Adding a method shifts the indices: regenerate the
///                       seeds (`fuzz/make_seeds.py signed`); FuzzRegressionTests checks each seed calls its method.
///
/// Findings (traps): a reply with status INTERNAL or UNKNOWN, no reply within 10 s (a hang), a reply that is
/// not an RpcResponse, two replies to one call, and a resent mutation answered differently.
///
/// Clock: `1_764_000_000_000` + one millisecond per execution. The database is a copy of a fixture database
/// made once per process in a scratch folder, replaced by a fresh copy every `SMRTCHAT_FUZZ_SIGNED_RESET`
/// executions (default 10,000) so that deleted or archived fixtures come back.
extension FuzzEntryPoints {
    /// Runs one signed-call description through the server handler; returns a one-line outcome
    /// (`<Method> key=… tenant=… actor=… -> CODE REASON`).
    /// `fresh`: run it on a fresh copy of the fixture database (tests that want the fixtures as made).
    @discardableResult
    public static func signed(_ bytes: [UInt8], fresh: Bool = false) -> String {
        SignedHarness.shared.run(bytes, fresh: fresh)
    }

    /// How the signed target opens a database file (the engine is the caller's choice: this module imports none).
    /// Set it before the first `signed` call.
    public static func useStorage(_ open: @escaping @Sendable (_ path: String, _ logger: Logger) throws -> any ChatStorage) {
        SignedHarness.openStorage.withLock { $0 = open }
    }

    /// Every method the signed target can call, in the order its first byte indexes them.
    public static var signedMethods: [String] { SignedHarness.methods }

    /// The method a signed-target input calls (short name, e.g. `SendMessage`).
    public static func signedMethod(_ bytes: [UInt8]) -> String {
        let methods = SignedHarness.methods
        let name = methods[Int(bytes.first ?? 0) % methods.count]
        return String(name[name.index(after: name.lastIndex(of: "/")!)...])
    }
}

/// Keeps the last error the handler logged (an INTERNAL answer's cause) for the trap message.
final class LastLoggedError: Sendable {
    private let text = Mutex<String>("")
    func record(_ s: String) { text.withLock { $0 = s } }
    func take() -> String { text.withLock { t in defer { t = "" }; return t } }
}

private struct CapturingLogHandler: LogHandler {
    let sink: LastLoggedError
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .error

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        sink.record("\(event.message) \(fields.joined(separator: " "))")
    }
}

/// The harness clock: fixed, advanced by the harness.
final class FuzzClock: Sendable {
    let value: Atomic<Int64>
    init(_ start: Int64) { value = Atomic(start) }
    func now() -> Int64 { value.load(ordering: .acquiring) }
    func set(_ ms: Int64) { value.store(ms, ordering: .releasing) }
}

/// The replies to one call: the first wakes the waiter; a second one is a finding.
private final class ReplyBox: Sendable {
    let replies = Mutex<[[UInt8]]>([])
    let arrived = DispatchSemaphore(value: 0)
    let label: String
    init(_ label: String) { self.label = label }

    func put(_ reply: [UInt8]) {
        let count = replies.withLock { r in
            r.append(reply)
            return r.count
        }
        if count > 1 { fatalError("signed: the handler replied \(count) times to one call (\(label))") }
        arrived.signal()
    }
}

/// One key of the fixtures: its id, whether it is stored (a missing one is not), and its grants.
private struct FuzzKey {
    let id: String
    let tenants: [String]
    let allTenants: Bool
    let scopes: Set<Scope>
    let revoked: Bool
    let stored: Bool
}

final class SignedHarness: @unchecked Sendable {
    static let shared = SignedHarness()
    static let openStorage = Mutex<(@Sendable (String, Logger) throws -> any ChatStorage)?>(nil)

    private func open(_ path: String) throws -> any ChatStorage {
        guard let open = Self.openStorage.withLock({ $0 }) else {
            fatalError("signed: call FuzzEntryPoints.useStorage before the first input")
        }
        return try open(path, logger)
    }

    static let secret = [UInt8](repeating: 7, count: 32)
    static let wrongSecret = [UInt8](repeating: 8, count: 32)
    static let startTime: Int64 = 1_764_000_000_000
    static let replyTimeout: TimeInterval = 10

    /// Every method: the handler's table plus Health and ServerInfo, sorted (the seeds index this order).
    static let methods: [String] = {
        var names = Set(MethodTable.build(includeEntities: true).keys)
        names.insert(RequestHandler.health)
        names.insert(RequestHandler.serverInfo)
        return names.sorted()
    }()

    private static let mutating: Set<String> = Set(MethodTable.build(includeEntities: true).filter { $0.value.mutates }.keys)

    private static let keys: [FuzzKey] = [
        FuzzKey(id: "sk_fuzz_all", tenants: ["tenant-1", "tenant-2"], allTenants: false,
                scopes: [.chat, .agent, .events, .admin], revoked: false, stored: true),
        FuzzKey(id: "sk_fuzz_chat", tenants: ["tenant-1"], allTenants: false, scopes: [.chat], revoked: false, stored: true),
        FuzzKey(id: "sk_fuzz_agent", tenants: ["tenant-1"], allTenants: false, scopes: [.agent], revoked: false,
                stored: true),
        FuzzKey(id: "sk_fuzz_events", tenants: [], allTenants: true, scopes: [.events], revoked: false, stored: true),
        FuzzKey(id: "sk_fuzz_admin", tenants: [], allTenants: true, scopes: [.admin, .chat], revoked: false, stored: true),
        FuzzKey(id: "sk_fuzz_revoked", tenants: ["tenant-1"], allTenants: false, scopes: [.chat, .agent, .events, .admin],
                revoked: true, stored: true),
        FuzzKey(id: "sk_fuzz_missing", tenants: ["tenant-1"], allTenants: false, scopes: [.chat], revoked: false,
                stored: false),
    ]

    private static let oddTenants = ["tenant-3", "", "bad tenant", String(repeating: "t", count: 129), "t:@._-",
                                     "tenant-1\u{0}", "Tenant-1", "t\u{e9}nant", String(repeating: "t", count: 128)]
    private static let oddActors = ["", String(repeating: "x", count: 129), "al ice", "alice\u{0}", "agent:",
                                    "\u{c4}LICE", String(repeating: "a", count: 128), "agent:bot-2", "tenant-1"]

    let clock = FuzzClock(SignedHarness.startTime)
    private let lock = NSLock()
    private let logSink = LastLoggedError()
    private let logger: Logger
    private let worker = DispatchQueue(label: "smrt.fuzz.signed.worker")
    private let directory: String
    private let resetEvery: Int
    private var template: String?
    /// Token letter → fixture ids (`@r0` → rooms[0]).
    private var fixtures: [UInt8: [String]] = [:]
    private var live: (storage: any ChatStorage, handler: RequestHandler, path: String)?
    private var generation = 0
    private var executions = 0
    private var sinceReset = 0
    private var requestCounter = 0

    private init() {
        let sink = logSink
        logger = Logger(label: "smrt.fuzz.signed") { _ in CapturingLogHandler(sink: sink) }
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("smrt-fuzz-signed-\(getpid())")
        resetEvery = max(1, Int(ProcessInfo.processInfo.environment["SMRTCHAT_FUZZ_SIGNED_RESET"] ?? "") ?? 10_000)
        SignedHarness.scratch = directory
        atexit { if let dir = SignedHarness.scratch { try? FileManager.default.removeItem(atPath: dir) } }
    }

    /// The scratch folder, removed at exit (a C callback cannot capture).
    nonisolated(unsafe) private static var scratch: String?

    // MARK: One execution

    func run(_ input: [UInt8], fresh: Bool) -> String {
        lock.lock()
        defer { lock.unlock() }
        if live == nil || fresh || sinceReset >= resetEvery { reset() }
        executions += 1
        sinceReset += 1
        let now = Self.startTime + Int64(executions)
        clock.set(now)

        var header = Array(input.prefix(8))
        while header.count < 8 { header.append(0) }
        let payload = substitute(Array(input.dropFirst(8)))
        let method = Self.methods[Int(header[0]) % Self.methods.count]
        let key = header[1] < 128 ? Self.keys[0] : Self.keys[1 + Int(header[1] - 128) % (Self.keys.count - 1)]
        let tenant = header[2] < 192 ? "tenant-1" : header[2] < 224 ? "tenant-2"
            : Self.oddTenants[Int(header[2] - 224) % Self.oddTenants.count]
        let actor = header[3] < 96 ? "alice" : header[3] < 144 ? "bob" : header[3] < 176 ? "agent:bot-1"
            : header[3] < 200 ? "carol" : header[3] < 216 ? "dave" : Self.oddActors[Int(header[3] - 216) % Self.oddActors.count]
        let (requestId, twice) = requestIdFor(header[4])
        let timestamp = Self.timestamp(header[5], now: now)
        let deadline = Self.deadline(header[6], now: now)

        var request = Smrt_Chat_V1_RpcRequest()
        request.method = method
        request.payload = Data(payload)
        request.context.tenantID = tenant
        request.context.actorProfileID = actor
        request.context.requestID = requestId
        request.context.deadlineUnixMs = deadline
        if header[7] < 252 {
            request.auth.keyID = key.id
            request.auth.timestampUnixMs = timestamp
            if header[7] < 248 {
                request.auth.signature = RequestSigning.signature(
                    secret: header[7] < 240 ? Self.secret : Self.wrongSecret, method: method, tenantId: tenant,
                    actorProfileId: actor, requestId: requestId, timestampUnixMs: timestamp, payload: request.payload)
            }
        }
        let frame: [UInt8]
        do {
            frame = try request.serializedBytes()
        } catch {
            fatalError("signed: could not serialize the request: \(error)")
        }
        let short = String(method.split(separator: "/").last ?? "")
        let label = "\(short) key=\(key.id) tenant=\(tenant.debugDescription) actor=\(actor.debugDescription) "
            + "request_id=\(requestId.debugDescription) ts=now\(Self.plus(timestamp &- now)) "
            + "deadline=\(deadline) payload=\(payload.count)B"

        let first = call(frame, label: label)
        let response = check(first, label: label)
        var outcome = "\(label) -> \(Self.describe(response))"
        if twice {
            let second = call(frame, label: label + " (resent)")
            let again = check(second, label: label + " (resent)")
            if Self.mutating.contains(method) && response.status.code == .ok && second != first {
                fatalError("signed: a byte-identical resend of a mutation was answered differently (SPEC §7.4): "
                           + "\(label): first \(Self.describe(response)), then \(Self.describe(again))")
            }
            outcome += "; resent -> \(Self.describe(again))"
        }
        return outcome
    }

    /// Runs the frame through the handler on the worker thread (as a server worker would) and waits for the reply.
    private func call(_ frame: [UInt8], label: String) -> [UInt8] {
        guard let handler = live?.handler else { fatalError("signed: no handler") }
        let box = ReplyBox(label)
        worker.async { handler.handle(frame) { reply in box.put(reply) } }
        guard box.arrived.wait(timeout: .now() + Self.replyTimeout) == .success else {
            fatalError("signed: no reply within \(Int(Self.replyTimeout)) s (hang): \(label)")
        }
        return box.replies.withLock { $0[0] }
    }

    private func check(_ reply: [UInt8], label: String) -> Smrt_Chat_V1_RpcResponse {
        let response: Smrt_Chat_V1_RpcResponse
        do {
            response = try Smrt_Chat_V1_RpcResponse(serializedBytes: reply)
        } catch {
            fatalError("signed: the reply is not an RpcResponse (\(reply.count) bytes): \(label)")
        }
        let logged = logSink.take()
        if response.status.code == .internal || response.status.code == .unknown {
            fatalError("signed: \(Self.describe(response)) \(response.status.message.debugDescription) for \(label)"
                       + (logged.isEmpty ? "" : "; server log: \(logged)"))
        }
        return response
    }

    private static func describe(_ response: Smrt_Chat_V1_RpcResponse) -> String {
        let code = "\(response.status.code)"
        return response.status.reason.isEmpty ? code : "\(code) \(response.status.reason)"
    }

    private static func plus(_ v: Int64) -> String { v >= 0 ? "+\(v)" : "\(v)" }

    // MARK: The description's fields

    private func requestIdFor(_ b: UInt8) -> (String, Bool) {
        requestCounter += 1
        let fresh = "fz-\(requestCounter)"
        switch b {
        case 0..<176: return (fresh, false)
        case 176..<208: return (fresh, true)
        case 208..<224: return ("fixed-\(b & 3)", false)
        case 224..<232: return ("", false)
        case 232..<240: return (fresh + String(repeating: "r", count: 65 - fresh.utf8.count), false)
        case 240..<248: return (fresh + String(repeating: "r", count: 64 - fresh.utf8.count), false)
        default: return ("\u{438}\u{434}-\(requestCounter)-" + String(repeating: "\u{e9}", count: Int(b & 7) * 4), false)
        }
    }

    private static func timestamp(_ b: UInt8, now: Int64) -> Int64 {
        if b < 200 { return now + (Int64(b) - 100) * 1000 }
        let edges: [Int64] = [now - 300_000, now + 300_000, now - 300_001, now + 300_001, now - 3_600_000,
                              now + 3_600_000, 0, -1, 1, .min, .max, .min + 1, .max - 1, now + Int64(Int32.max), -now]
        return edges[Int(b - 200) % edges.count]
    }

    private static func deadline(_ b: UInt8, now: Int64) -> Int64 {
        if b < 128 { return 0 }
        if b < 192 { return now + (Int64(b) - 127) * 1000 }
        let edges: [Int64] = [now, now - 1, now + 1, -1, 1, .min, .max, now - 300_000, now + 300_000, .max - 1]
        return edges[Int(b - 192) % edges.count]
    }

    /// The payload with top-level `@<letter><digit>` string fields replaced by fixture ids; unchanged when it is not
    /// a well-formed protobuf message (wire types 0, 1, 2, 5 only) or holds no token.
    private func substitute(_ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 64)
        var i = 0
        var changed = false
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while i < payload.count, shift < 64 {
                let b = payload[i]
                i += 1
                value |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while i < payload.count {
            let start = i
            guard let tag = varint() else { return payload }
            switch tag & 7 {
            case 0:
                guard varint() != nil else { return payload }
                out.append(contentsOf: payload[start..<i])
            case 1, 5:
                let width = tag & 7 == 1 ? 8 : 4
                guard payload.count - i >= width else { return payload }
                i += width
                out.append(contentsOf: payload[start..<i])
            case 2:
                let tagEnd = i
                guard let length = varint(), length <= UInt64(payload.count - i) else { return payload }
                let body = payload[i..<i + Int(length)]
                i += Int(length)
                if body.count == 3, body.first == UInt8(ascii: "@"), let ids = fixtures[body[body.startIndex + 1]],
                   case let digit = body[body.startIndex + 2], (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) {
                    let id = Array(ids[Int(digit - UInt8(ascii: "0")) % ids.count].utf8)
                    out.append(contentsOf: payload[start..<tagEnd])
                    out.append(UInt8(id.count))  // ids are < 128 bytes: a one-byte varint
                    out.append(contentsOf: id)
                    changed = true
                } else {
                    out.append(contentsOf: payload[start..<i])
                }
            default:
                return payload
            }
        }
        return changed ? out : payload
    }

    // MARK: Database and fixtures

    /// Opens a fresh copy of the fixture database (making it on first use) with a new handler.
    private func reset() {
        sinceReset = 0
        if let old = live {
            old.handler.stop()
            old.storage.close()
            removeDatabase(old.path)
            live = nil
        }
        do {
            if template == nil { template = try makeTemplate() }
            generation += 1
            let path = (directory as NSString).appendingPathComponent("live-\(generation).sqlite")
            try FileManager.default.copyItem(atPath: template!, toPath: path)
            let storage = try open(path)
            var configuration = ServerConfiguration()
            configuration.keyRatePerSecond = 0
            configuration.tenantRatePerSecond = 0
            configuration.retentionIntervalSeconds = 0
            configuration.sessionExpiryIntervalSeconds = 0
            let clock = self.clock
            let domain = ChatDomain(limits: configuration.limits, clock: { clock.now() })
            let handler = RequestHandler(configuration: configuration, storage: storage, domain: domain, logger: logger)
            live = (storage, handler, path)
        } catch {
            fatalError("signed: could not set up the fixture database in \(directory): \(error)")
        }
    }

    private func removeDatabase(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// Creates the fixture database: keys, two tenants' rooms, messages, a thread, reactions, a DM and agent
    /// sessions, all made through the domain as calls would make them. Returns its path.
    private func makeTemplate() throws -> String {
        // Scratch folders of earlier processes that crashed (atexit did not run for them).
        let temporary = NSTemporaryDirectory()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        where name.hasPrefix("smrt-fuzz-signed-") {
            if let pid = Int32(name.dropFirst("smrt-fuzz-signed-".count)), pid != getpid(), kill(pid, 0) != 0,
               errno == ESRCH {
                try? FileManager.default.removeItem(atPath: (temporary as NSString).appendingPathComponent(name))
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("fixtures.sqlite")
        let storage = try open(path)
        defer { storage.close() }
        let start = Self.startTime
        let domain = ChatDomain(clock: { start })
        let keys = Self.keys
        let made = try storage.writeBlocking { tx -> [UInt8: [String]] in
            for k in keys where k.stored {
                try tx.insertApiKey(ApiKey(keyId: k.id, secret: SignedHarness.secret, tenants: k.tenants,
                                           allTenants: k.allTenants, scopes: k.scopes, createdAt: start))
                if k.revoked { _ = try tx.revokeApiKey(id: k.id, at: start) }
            }
            let all: Set<Scope> = [.chat, .agent, .events, .admin]
            let alice = CallActor(tenantId: "tenant-1", profileId: "alice", scopes: all)
            let bob = CallActor(tenantId: "tenant-1", profileId: "bob", scopes: all)
            let bot = CallActor(tenantId: "tenant-1", profileId: "agent:bot-1", scopes: [.agent])
            let alice2 = CallActor(tenantId: "tenant-2", profileId: "alice", scopes: all)

            // Rooms: r0 public (alice owner, bob member, dave banned), r1 private (alice), r2 the alice–bob DM,
            // r3 the room of session s0, r4 archived public, r5 a public room of tenant-2.
            let r0 = try domain.createRoom(tx, alice, name: "General", roomType: .public, description: "everyone",
                                           topic: "hello", metadata: "{\"a\":1}").id
            _ = try domain.addParticipant(tx, alice, roomId: r0, profileId: "bob")
            _ = try domain.addParticipant(tx, alice, roomId: r0, profileId: "dave")
            _ = try domain.banParticipant(tx, alice, roomId: r0, profileId: "dave")
            let r1 = try domain.createRoom(tx, alice, name: "Secret", roomType: .private).id
            let r2 = try domain.getOrCreateDM(tx, alice, profileA: "alice", profileB: "bob").id
            let s0 = try domain.createAgentSession(tx, alice, agentId: "bot-1", allowedTools: ["notes.*", "web.fetch"],
                                                   systemPrompt: "be brief", maxTokens: 100_000, maxMessages: 1000,
                                                   ttlSeconds: 0, approvalTools: ["web.fetch"])
            let r3 = s0.room.id
            let r4 = try domain.createRoom(tx, alice, name: "Old", roomType: .public).id
            _ = try domain.addParticipant(tx, alice, roomId: r4, profileId: "bob")
            let r5 = try domain.createRoom(tx, alice2, name: "Other", roomType: .public).id

            // Messages: m0 alice and m1 bob in r0, m2 bob's reply in thread t0 (rooted at m0), m3 alice and
            // m4 the agent in session s0, m5 alice in r1, m6 alice in tenant-2's r5.
            let m0 = try domain.sendMessage(tx, alice, roomId: r0, content: "hello world").message.id
            let m1 = try domain.sendMessage(tx, bob, roomId: r0, content: "hi alice", replyToMessageId: m0,
                                            clientRequestId: "c-1").message.id
            let t0 = try domain.startThread(tx, alice, roomId: r0, rootMessageId: m0, title: "Topic").id
            let m2 = try domain.sendMessage(tx, bob, roomId: r0, content: "in the thread", threadId: t0).message.id
            _ = try domain.addReaction(tx, bob, messageId: m0, emoji: "\u{1F44D}")
            _ = try domain.addReaction(tx, alice, messageId: m1, emoji: "ok")
            _ = try domain.editMessage(tx, alice, messageId: m0, content: "hello, world")
            let m3 = try domain.sendAgentUserMessage(tx, alice, sessionId: s0.session.session.id, content: "a question").message.id
            let m4 = try domain.sendAgentReply(tx, bot, sessionId: s0.session.session.id, content: "an answer",
                                               tokensUsed: 10).get().message.id
            _ = try domain.sendAgentReply(tx, bot, sessionId: s0.session.session.id, content: "", kind: .tool,
                                          toolCall: ToolCallInput(callId: "call-1", name: "notes.search",
                                                                  arguments: "{\"q\":\"x\"}"))
            // call-2 (web.fetch) waits for alice's approval; m7 is a reply of the agent that is streaming.
            _ = try domain.sendAgentReply(tx, bot, sessionId: s0.session.session.id, content: "", kind: .tool,
                                          toolCall: ToolCallInput(callId: "call-2", name: "web.fetch",
                                                                  arguments: "{\"url\":\"x\"}"))
            let m7 = try domain.beginAgentReply(tx, bot, sessionId: s0.session.session.id).message.id
            let m5 = try domain.sendMessage(tx, alice, roomId: r1, content: "private").message.id
            let t1 = try domain.startThread(tx, alice, roomId: r1, rootMessageId: m5, title: "Done").id
            _ = try domain.resolveThread(tx, alice, threadId: t1)
            _ = try domain.sendMessage(tx, alice, roomId: r4, content: "before archiving")
            _ = try domain.archiveRoom(tx, alice, roomId: r4)
            let m6 = try domain.sendMessage(tx, alice2, roomId: r5, content: "other tenant").message.id
            // Sessions: s0 active (alice, bot-1), s1 closed (alice, bot-2), s2 bob's with a key, s3 tenant-2's.
            let s1 = try domain.createAgentSession(tx, alice, agentId: "bot-2").session.session.id
            _ = try domain.closeAgentSession(tx, alice, sessionId: s1)
            let s2 = try domain.createAgentSession(tx, bob, agentId: "bot-1", ttlSeconds: 3600, sessionKey: "k1")
                .session.session.id
            let s3 = try domain.createAgentSession(tx, alice2, agentId: "bot-1").session.session.id
            _ = try domain.updateSessionContext(tx, alice, sessionId: s0.session.session.id, mergePatch: "{\"step\":1}")
            let e0 = try domain.startExport(tx, alice, scope: .room, subject: r0, header: ExportLines.header,
                                            line: { try ExportLines.line($0, now: 0) }).exportId
            return [
                UInt8(ascii: "e"): [e0],
                UInt8(ascii: "r"): [r0, r1, r2, r3, r4, r5],
                UInt8(ascii: "m"): [m0, m1, m2, m3, m4, m5, m6, m7],
                UInt8(ascii: "t"): [t0, t1],
                UInt8(ascii: "s"): [s0.session.session.id, s1, s2, s3],
            ]
        }
        fixtures = made
        return path
    }
}
