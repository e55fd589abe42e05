import ChatAPI
import Foundation
@testable import ChatServer
import Testing

/// Where each method runs: a point read on the worker that received it (without handing the receive over when it is
/// alone), a bulk read on the low-priority reader threads, a mutation on the write path.
@Suite("Method table: where calls run")
struct MethodTableTests {
    @Test("reads whose cost grows with the caller's data run on the reader threads; point reads are one entity's")
    func placement() throws {
        let table = MethodTable.build(includeEntities: true)
        let spec = { (name: String) throws -> MethodSpec in try #require(table.values.first { $0.name == name }) }
        for name in ["GetUnreadCounts", "ListMyRooms", "ListRoomMessages", "SearchMessages"] {
            #expect(try spec(name).isBulkRead && !spec(name).isPointRead, "\(name)")
        }
        for name in ["GetRoom", "GetMessage", "CheckToolCall"] {
            #expect(try spec(name).isPointRead && !spec(name).isBulkRead, "\(name)")
        }
        #expect(try !spec("ListRoomEvents").isBulkRead, "event followers wait on the log: never queued behind pages")
        #expect(try !spec("SendMessage").isBulkRead && !spec("SendMessage").isPointRead)
    }
}

/// The envelope of an answered call, written by hand on the hot path, is the bytes SwiftProtobuf makes of it.
@Suite("Response envelope")
struct ResponseEnvelopeTests {
    @Test("OK responses: the same bytes as SwiftProtobuf's, whatever the lengths")
    func sameBytes() throws {
        for requestId in ["", "r", String(repeating: "x", count: 127), String(repeating: "é", count: 64), String(repeating: "y", count: 20_000)] {
            for size in [0, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
                let payload = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) })
                var response = Smrt_Chat_V1_RpcResponse()
                response.requestID = requestId
                response.status = Smrt_Chat_V1_Status()
                response.payload = payload
                let expected: [UInt8] = try response.serializedBytes()
                let written = RequestHandler.encode(requestId: requestId, payload: payload)
                #expect(written == expected, "request id of \(requestId.utf8.count) bytes, payload of \(size)")
                let decoded = try Smrt_Chat_V1_RpcResponse(serializedBytes: written)
                #expect(decoded.requestID == requestId && decoded.hasStatus && decoded.status.code == .ok && decoded.payload == payload)
                #expect(RequestHandler.status(of: written) == Smrt_Chat_V1_Status())
            }
        }
    }
}
