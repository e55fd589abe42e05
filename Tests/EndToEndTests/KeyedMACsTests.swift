import ChatAPI
@testable import ChatServer
import Foundation
import Testing

/// The server keeps an HMAC keyed per API key (`KeyedMACs`) for signature checks: it must never check a request
/// against another secret than the key's current one.
@Suite("Keyed HMACs for signature checks")
struct KeyedMACsTests {
    static func request(secret: [UInt8], requestId: String) -> Smrt_Chat_V1_RpcRequest {
        var request = Smrt_Chat_V1_RpcRequest()
        request.method = RequestSigning.methodName("GetRoom")
        request.context.tenantID = "tenant-1"
        request.context.actorProfileID = "alice"
        request.context.requestID = requestId
        request.auth.keyID = "sk_1"
        request.auth.timestampUnixMs = 1_764_000_000_000
        request.payload = Data([1, 2, 3])
        request.auth.signature = RequestSigning.signature(
            secret: secret, method: request.method, tenantId: "tenant-1", actorProfileId: "alice", requestId: requestId,
            timestampUnixMs: request.auth.timestampUnixMs, payload: request.payload)
        return request
    }

    @Test("a key id keyed with one secret is keyed again when its secret differs; copies verify independently")
    func secretChange() {
        let macs = KeyedMACs(capacity: 2)
        let old = Array(repeating: UInt8(1), count: 32), new = Array(repeating: UInt8(2), count: 32)
        let signedOld = Self.request(secret: old, requestId: "r1"), signedNew = Self.request(secret: new, requestId: "r2")
        #expect(RequestSigning.verify(signedOld, keyed: macs.mac(keyId: "sk_1", secret: old)))
        #expect(!RequestSigning.verify(signedNew, keyed: macs.mac(keyId: "sk_1", secret: old)))
        #expect(RequestSigning.verify(signedNew, keyed: macs.mac(keyId: "sk_1", secret: new)))
        #expect(!RequestSigning.verify(signedOld, keyed: macs.mac(keyId: "sk_1", secret: new)))
        // The cached HMAC is never updated in place: the same entry checks many requests, any order.
        for i in 0..<3 {
            #expect(RequestSigning.verify(Self.request(secret: new, requestId: "n\(i)"), keyed: macs.mac(keyId: "sk_1", secret: new)))
        }
        // Past its capacity the cache starts again and still keys correctly.
        for key in ["sk_2", "sk_3", "sk_4"] { _ = macs.mac(keyId: key, secret: old) }
        #expect(RequestSigning.verify(signedNew, keyed: macs.mac(keyId: "sk_1", secret: new)))
        #expect(RequestSigning.verify(signedOld, secret: old) && !RequestSigning.verify(signedOld, secret: new))
    }
}
