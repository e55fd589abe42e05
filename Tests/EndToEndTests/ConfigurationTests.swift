import ChatAPI
import ChatClient
import Foundation
import Testing

@Suite("Server configuration: file, environment, payload mode", .serialized)
struct ConfigurationTests {
    @Test("a configuration file sets endpoints and the ids payload mode; events then carry no entity")
    func fileAndIdsMode() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-conf-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("smrt-chatd.conf")
        try """
        # test configuration
        rpc = ipc://\(dir.path)/conf-rpc.sock
        events = ipc://\(dir.path)/conf-ev.sock
        payload_mode = ids
        key_rate = 0
        tenant_rate = 0
        unread_count_cap = 2
        """.write(to: file, atomically: true, encoding: .utf8)
        // Flags given by ServerProcess (--rpc/--events) override the file, so pass only the file and db.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
        let db = dir.appendingPathComponent("chat.sqlite").path
        process.arguments = ["serve", "--config", file.path, "--db", db, "--log-level", "warning"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        var banner = Data()
        while !String(decoding: banner, as: UTF8.self).contains("serving") && process.isRunning {
            banner += out.fileHandleForReading.availableData
        }
        #expect(String(decoding: banner, as: UTF8.self).contains("conf-rpc.sock"))
        let keyJSON = try ServerProcess.run(["keys", "create", "--db", db, "--tenant", "tenant-1", "--scope", "chat",
                                             "--scope", "events", "--json"])
        let key = try JSONSerialization.jsonObject(with: Data(keyJSON.utf8)) as! [String: String]
        let client = try ChatClient(ClientConfiguration(
            rpcEndpoints: ["ipc://\(dir.path)/conf-rpc.sock"], eventsEndpoints: ["ipc://\(dir.path)/conf-ev.sock"],
            tenantId: "tenant-1", actorProfileId: "alice", keyId: key["key_id"], secret: RequestSigning.bytes(hex: key["secret"]!)!))
        defer { client.close() }
        #expect(try await client.serverInfo().eventPayloadMode == "ids")
        let room = try await client.createRoom(.with { $0.name = "r"; $0.roomType = .public }).room
        _ = try await client.sendMessage(.with { $0.roomID = room.id; $0.content = "hi" })
        let log = try await client.listRoomEvents(.with { $0.roomID = room.id })
        #expect(log.events.count == 3 && log.events.allSatisfy { $0.entity == nil && !$0.subjectID.isEmpty })
        var live: [Smrt_Chat_V1_RoomEvent] = []
        for try await event in client.events(.room(room.id, afterSeq: 0)) {
            live.append(event)
            if live.count == 3 { break }
        }
        #expect(live.allSatisfy { $0.entity == nil })
        // unread_count_cap: bob has 3 unread messages and is told 2.
        let bob = try ChatClient(ClientConfiguration(
            rpcEndpoints: ["ipc://\(dir.path)/conf-rpc.sock"], tenantId: "tenant-1", actorProfileId: "bob",
            keyId: key["key_id"], secret: RequestSigning.bytes(hex: key["secret"]!)!))
        defer { bob.close() }
        _ = try await bob.joinRoom(.with { $0.roomID = room.id })
        for text in ["one", "two", "three"] { _ = try await client.sendMessage(.with { $0.roomID = room.id; $0.content = text }) }
        #expect(try await bob.getRoom(.with { $0.roomID = room.id }).unreadCount == 2)
    }

    @Test("log_format = json: one JSON object per line; call lines carry method, tenant, key id, request id and status, never contents or secrets")
    func jsonLogs() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-log-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("chat.sqlite").path
        let logFile = dir.appendingPathComponent("stderr.log")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
        process.arguments = ["serve", "--db", db, "--rpc", "ipc://\(dir.path)/rpc.sock", "--events", "ipc://\(dir.path)/ev.sock",
                             "--log-format", "json", "--log-level", "debug", "--no-jobs"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: logFile)
        try process.run()
        var banner = Data()
        while !String(decoding: banner, as: UTF8.self).contains("serving") && process.isRunning {
            banner += out.fileHandleForReading.availableData
        }
        let keyJSON = try ServerProcess.run(["keys", "create", "--db", db, "--tenant", "tenant-1", "--json"])
        let key = try JSONSerialization.jsonObject(with: Data(keyJSON.utf8)) as! [String: String]
        let client = try ChatClient(ClientConfiguration(
            rpcEndpoints: ["ipc://\(dir.path)/rpc.sock"], tenantId: "tenant-1", actorProfileId: "alice",
            keyId: key["key_id"], secret: RequestSigning.bytes(hex: key["secret"]!)!))
        let room = try await client.createRoom(.with { $0.name = "r"; $0.roomType = .public }).room
        _ = try await client.sendMessage(.with { $0.roomID = room.id; $0.content = "contents-never-logged" })
        await expectRPC("SCOPE_MISSING") { _ = try await client.expireStaleSessions(.init()) }
        // A W3C traceparent is logged with its call; a malformed one is ignored.
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let raw = try RawCaller("ipc://\(dir.path)/rpc.sock")
        let getRoom = try Smrt_Chat_V1_GetRoomRequest.with { $0.roomID = room.id }.serializedData()
        #expect(try raw.call(client.frame("GetRoom", payload: getRoom, requestId: "traced-1", traceparent: trace)).status.code == .ok)
        #expect(try raw.call(client.frame("GetRoom", payload: getRoom, requestId: "traced-2",
                                          traceparent: "00-" + String(repeating: "0", count: 32) + "-00f067aa0ba902b7-01")).status.code == .ok)
        client.close()
        process.terminate()
        process.waitUntilExit()
        let lines = try String(contentsOf: logFile, encoding: .utf8).split(separator: "\n")
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]) }
        #expect(objects.allSatisfy { $0["ts"] != nil && $0["level"] != nil && $0["label"] != nil && $0["message"] != nil })
        let calls = objects.filter { $0["message"] == "call" }
        #expect(calls.map { $0["chat.method"] ?? "" }.contains { $0.hasSuffix("/SendMessage") })
        #expect(calls.count >= 3 && calls.allSatisfy {
            $0["chat.tenant"] == "tenant-1" && $0["chat.key_id"] == key["key_id"] && !($0["chat.request_id"] ?? "").isEmpty
                && $0["chat.duration_us"] != nil
        })
        #expect(Set(calls.compactMap { $0["chat.status"] }) == ["OK", "SCOPE_MISSING"])
        #expect(calls.first { $0["chat.request_id"] == "traced-1" }?["chat.traceparent"] == trace)
        #expect(calls.contains { $0["chat.request_id"] == "traced-2" && $0["chat.traceparent"] == nil })
        let text = lines.joined(separator: "\n")
        #expect(!text.contains("contents-never-logged") && !text.contains(key["secret"]!))
    }

    @Test("an unknown configuration key is refused at start")
    func unknownKey() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString.prefix(6)).conf")
        try "colour = blue\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(throws: ServerError.self) { try ServerProcess.run(["serve", "--config", file.path]) }
    }
}
