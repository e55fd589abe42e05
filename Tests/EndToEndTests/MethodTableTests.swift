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
