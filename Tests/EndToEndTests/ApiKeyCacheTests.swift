import ChatAPI
import ChatCore
@testable import ChatServer
import Foundation
import Testing

/// The server's key cache holds, with each key, an HMAC keyed with its secret for signature checks: it must check a
/// request only against the key's current secret, and forget a revoked key with it.
@Suite("API key cache: keyed HMACs")
struct ApiKeyCacheTests {
    static func key(_ secret: UInt8, revokedAt: Int64? = nil) -> ApiKey {
        var key = ApiKey(keyId: "sk_1", secret: Array(repeating: secret, count: 32), tenants: ["tenant-1"],
                         allTenants: false, scopes: [.chat], createdAt: 0)
        key.revokedAt = revokedAt
        return key
    }

    static func request(signedWith secret: UInt8, requestId: String) -> Smrt_Chat_V1_RpcRequest {
        var request = Smrt_Chat_V1_RpcRequest()
        request.method = RequestSigning.methodName("GetRoom")
        request.context.tenantID = "tenant-1"
        request.context.actorProfileID = "alice"
        request.context.requestID = requestId
        request.auth.keyID = "sk_1"
        request.auth.timestampUnixMs = 1_764_000_000_000
        request.payload = Data([1, 2, 3])
        request.auth.signature = RequestSigning.signature(
            secret: Array(repeating: secret, count: 32), method: request.method, tenantId: "tenant-1",
            actorProfileId: "alice", requestId: requestId, timestampUnixMs: request.auth.timestampUnixMs,
            payload: request.payload)
        return request
    }

    @Test("an entry's HMAC checks its key's current secret only; copies check independently; revocation forgets it")
    func keyedMACs() throws {
        let cache = ApiKeyCache(capacity: 2)
        let signedOld = Self.request(signedWith: 1, requestId: "r1"), signedNew = Self.request(signedWith: 2, requestId: "r2")
        let old = try #require(cache.update("sk_1", Self.key(1)))
        #expect(RequestSigning.verify(signedOld, keyed: old.mac) && !RequestSigning.verify(signedNew, keyed: old.mac))
        cache.update("sk_1", Self.key(2))
        let new = try #require(cache.key("sk_1"))
        #expect(RequestSigning.verify(signedNew, keyed: new.mac) && !RequestSigning.verify(signedOld, keyed: new.mac))
        // The stored HMAC is never updated in place: it checks many requests, in any order.
        for i in 0..<3 {
            #expect(RequestSigning.verify(Self.request(signedWith: 2, requestId: "n\(i)"), keyed: new.mac))
        }
        #expect(RequestSigning.verify(signedOld, secret: Array(repeating: 1, count: 32)))
        #expect(cache.update("sk_1", Self.key(2, revokedAt: 5)) == nil && cache.key("sk_1") == nil)
    }
}
