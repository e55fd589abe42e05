import ChatAPI
import ChatCore
import Crypto
import Foundation

/// What a request frame passes before any database access (SPEC §12.1): the envelope, then, given the key,
/// credentials, signature, timestamp, tenant and scope grants and the deadline, and only then the payload's
/// shape: an unauthenticated caller never makes the server parse its payload (README: decisions).
/// Pure and deterministic for a given clock, so it is what the frame fuzzer drives.
struct FrameGate: Sendable {
    let methods: [String: MethodSpec]
    let domain: ChatDomain
    let signatureWindowMs: Int64

    /// Step (1) without the payload: method lookup and context validation.
    func admit(_ request: Smrt_Chat_V1_RpcRequest) throws -> MethodSpec {
        guard let method = methods[request.method] else {
            throw ChatError(.unimplemented, .unimplemented, "unknown method '\(request.method.prefix(200))'")
        }
        let context = request.context
        guard !context.requestID.isEmpty, context.requestID.utf8.count <= 64 else {
            throw ChatError.validation("request_id", "must be 1-64 bytes")
        }
        try domain.checkActor(CallActor(tenantId: context.tenantID, profileId: context.actorProfileID, scopes: []))
        return method
    }

    /// Whether the request carries credentials at all (step 2's first check, needing no key).
    func requireCredentials(_ request: Smrt_Chat_V1_RpcRequest) throws {
        guard request.hasAuth, !request.auth.keyID.isEmpty, !request.auth.signature.isEmpty else {
            throw ChatError(.unauthenticated, .missingCredentials, "the call carries no credentials")
        }
    }

    /// Steps (2)–(3) for the key the request names (nil when there is no such key); `keyed`, when given, is an HMAC
    /// keyed with its secret (`ApiKeyCache.Entry`).
    func authenticate(_ request: Smrt_Chat_V1_RpcRequest, key: ApiKey?, keyed: HMAC<SHA256>? = nil, method: MethodSpec,
                      now: Int64) throws
        -> CallActor {
        let context = request.context
        try requireCredentials(request)
        guard request.auth.keyID.utf8.count <= 128, let key, key.revokedAt == nil else {
            throw ChatError(.unauthenticated, .invalidKey, "unknown or revoked key")
        }
        guard RequestSigning.verify(request, keyed: keyed ?? HMAC<SHA256>(key: SymmetricKey(data: key.secret))) else {
            throw ChatError(.unauthenticated, .badSignature, "the signature does not match the request")
        }
        // Any Int64 may arrive: the difference is taken without overflow.
        let (skew, overflow) = now.subtractingReportingOverflow(request.auth.timestampUnixMs)
        guard !overflow, skew.magnitude <= signatureWindowMs.magnitude else {
            throw ChatError(.unauthenticated, .staleTimestamp, "the request timestamp is outside the accepted window")
        }
        guard key.grants(tenant: context.tenantID) else {
            throw ChatError(.permissionDenied, .tenantNotGranted, "the key may not act in this tenant")
        }
        guard method.scopes.contains(where: key.scopes.contains) else { throw ChatError.scopeMissing(method.scopes[0]) }
        return CallActor(tenantId: context.tenantID, profileId: context.actorProfileID, scopes: key.scopes, keyId: key.keyId)
    }

    /// Step (4): whether the call's deadline (0: none) has passed at `now`.
    static func deadlinePassed(_ request: Smrt_Chat_V1_RpcRequest, now: Int64) -> Bool {
        request.context.deadlineUnixMs > 0 && now >= request.context.deadlineUnixMs
    }

    static let deadlineExceeded = ChatError(.deadlineExceeded, .deadlineExceeded, "the call's deadline has passed")
}

/// Entry points for fuzzers and their regression replays: each takes arbitrary bytes and must return
/// without trapping, whatever they hold.
public enum FuzzEntryPoints {
    private static let key = ApiKey(keyId: "sk_fuzz", secret: Array(repeating: 7, count: 32), tenants: ["tenant-1"],
                                    allTenants: false, scopes: [.chat, .agent, .events, .admin], createdAt: 0)
    private static let gate = FrameGate(methods: MethodTable.build(includeEntities: true),
                                        domain: ChatDomain(clock: { 1_764_000_000_000 }), signatureWindowMs: 300_000)

    /// Everything a request frame goes through before the database; returns the outcome's reason.
    @discardableResult
    public static func frame(_ bytes: [UInt8]) -> String {
        do {
            let request = try Smrt_Chat_V1_RpcRequest(serializedBytes: bytes)
            let method = try gate.admit(request)
            _ = try gate.authenticate(request, key: request.auth.keyID == key.keyId ? key : nil, method: method,
                                      now: 1_764_000_000_000)
            _ = try method.prepare(request.payload)
            if FrameGate.deadlinePassed(request, now: 1_764_000_000_000) { throw FrameGate.deadlineExceeded }
            return "OK"
        } catch let error as ChatError {
            return error.reason.rawValue
        } catch {
            return "NOT_AN_ENVELOPE"
        }
    }

    /// Pagination cursors: decoding arbitrary text against a scope.
    public static func cursor(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let cursor = try? PageCursor.decode(text, scope: "messages:room-1") {
            precondition(try! PageCursor.decode(cursor.text, scope: "messages:room-1") == cursor, "cursor round trip")
        }
    }

    /// JSON validation of metadata and context, and merge patches (first byte splits target and patch).
    public static func json(_ bytes: [UInt8]) {
        let split = bytes.isEmpty ? 0 : Int(bytes[0]) % bytes.count
        let target = String(decoding: bytes.dropFirst().prefix(split), as: UTF8.self)
        let patch = String(decoding: bytes.dropFirst(1 + split), as: UTF8.self)
        if let t = try? JSONValue.parse(target, field: "t"), let p = try? JSONValue.parse(patch, field: "p") {
            let merged = t.merging(patch: p)
            // Applying the same patch twice changes nothing more (RFC 7396 patches are idempotent).
            precondition(merged.merging(patch: p) == merged, "merge patch is idempotent")
        }
    }

    /// The tool allow-list: validation of entries and matching of names (lines: entries, last line a name).
    public static func allowList(_ bytes: [UInt8]) {
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
        let name = lines.popLast() ?? ""
        guard let list = try? ToolAllowList(validating: lines) else { return }
        if let entry = list.match(name) {
            precondition(!name.isEmpty && !entry.isEmpty, "a match needs a name and an entry")
            precondition(entry == name || (entry.hasSuffix(".*") && name.hasPrefix(String(entry.dropLast()))),
                         "a match is exact or by namespace")
        }
    }
}
