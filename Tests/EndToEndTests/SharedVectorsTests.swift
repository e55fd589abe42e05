import ChatAPI
import ChatCore
import Foundation
import Testing

/// The vectors in `testdata/vectors.json`, which the C and Python suites check too.
@Suite("Shared test vectors (testdata/vectors.json)")
struct SharedVectorsTests {
    nonisolated(unsafe) static let file: [String: Any] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("testdata/vectors.json")
        let data = (try? Data(contentsOf: url)) ?? Data("{}".utf8)
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }()

    static func list(_ key: String) -> [[String: Any]] { file[key] as? [[String: Any]] ?? [] }

    @Test("signatures: canonical string and HMAC")
    func signatures() throws {
        let vectors = Self.list("signatures")
        #expect(vectors.count == 2)
        for v in vectors {
            let payload = Data(try #require(RequestSigning.bytes(hex: v["payload_hex"] as! String)))
            let ts = (v["timestamp_unix_ms"] as! NSNumber).int64Value
            let canonical = RequestSigning.canonical(
                method: v["method"] as! String, tenantId: v["tenant_id"] as! String,
                actorProfileId: v["actor_profile_id"] as! String, requestId: v["request_id"] as! String,
                timestampUnixMs: ts, payload: payload)
            #expect(canonical == v["canonical"] as! String)
            let signature = RequestSigning.signature(
                secret: try #require(RequestSigning.bytes(hex: v["secret_hex"] as! String)), method: v["method"] as! String,
                tenantId: v["tenant_id"] as! String, actorProfileId: v["actor_profile_id"] as! String,
                requestId: v["request_id"] as! String, timestampUnixMs: ts, payload: payload)
            #expect(RequestSigning.hex(signature) == v["signature_hex"] as! String)
        }
    }

    @Test("DM room ids and client-request message ids")
    func identifiers() {
        let dms = Self.list("dm_room_ids")
        #expect(dms.count == 3)
        for v in dms {
            #expect(Identifiers.dmRoomId(tenantId: v["tenant_id"] as! String, v["profile_a"] as! String,
                                         v["profile_b"] as! String) == v["room_id"] as! String)
        }
        let ids = Self.list("client_request_message_ids")
        #expect(ids.count == 3)
        for v in ids {
            #expect(Identifiers.clientRequestMessageId(
                tenantId: v["tenant_id"] as! String, roomId: v["room_id"] as! String, threadId: v["thread_id"] as? String,
                actorProfileId: v["actor_profile_id"] as! String, clientRequestId: v["client_request_id"] as! String)
                    == v["message_id"] as! String)
        }
    }
}
