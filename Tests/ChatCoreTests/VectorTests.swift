@testable import ChatCore
import Foundation
import Testing

@Suite("Compatibility vectors (SPEC §9) and pure rules")
struct VectorTests {
    @Test("DM room ids match the original package, in either order")
    func dmIds() {
        #expect(Identifiers.dmRoomId(tenantId: "tenant-1", "alice", "bob") == "d68c0cb4-fe6f-5d49-ac32-f00f473a8856")
        #expect(Identifiers.dmRoomId(tenantId: "tenant-1", "bob", "alice") == "d68c0cb4-fe6f-5d49-ac32-f00f473a8856")
        #expect(Identifiers.dmRoomId(tenantId: "tenant-2", "alice", "bob") == "c381bd62-1382-5060-9302-211e385c3fbc")
    }

    @Test("client-request message ids are the UUIDv5 of SPEC §9.2")
    func clientRequestIds() {
        #expect(Identifiers.clientRequestMessageId(tenantId: "tenant-1", roomId: "room-1", threadId: nil,
                                                   actorProfileId: "profile-1", clientRequestId: "req-1")
                == "f893d65d-a692-51e2-8058-29fdfe342634")
        #expect(Identifiers.clientRequestMessageId(tenantId: "tenant-1", roomId: "room-1", threadId: "thread-1",
                                                   actorProfileId: "profile-1", clientRequestId: "req-1")
                == "9b8e9cd3-f8f6-54a0-b776-91618e47df36")
        #expect(Identifiers.clientRequestMessageId(tenantId: "tenant-1", roomId: "room-1", threadId: nil,
                                                   actorProfileId: "profile-1", clientRequestId: "ключ-✓")
                == "3e6436a4-4177-5ba4-966e-43d88c88a29e")
    }

    @Test("derived agent profiles: agent: + id, or its SHA-256 when too long")
    func derivedAgentProfile() {
        #expect(Identifiers.derivedAgentProfileId(agentId: "summarizer") == "agent:summarizer")
        let long = String(repeating: "a", count: 122)
        #expect(Identifiers.derivedAgentProfileId(agentId: long) == "agent:" + long)
        let tooLong = String(repeating: "a", count: 123)
        let derived = Identifiers.derivedAgentProfileId(agentId: tooLong)
        #expect(derived.hasPrefix("agent:") && derived.utf8.count == 6 + 64)
        #expect(derived == Identifiers.derivedAgentProfileId(agentId: tooLong))
    }

    @Test("namespace patterns: notes.* matches notes.read, not notes or notesX",
          arguments: [("notes.read", true), ("notes.a.b", true), ("notes", false), ("notesX", false),
                      ("notes.", false), ("Notes.read", false), ("web-search", true), ("web-search2", false),
                      ("", false)])
    func allowListMatching(name: String, allowed: Bool) throws {
        let list = try ToolAllowList(validating: ["notes.*", "web-search"])
        #expect((list.match(name) != nil) == allowed)
    }

    @Test("wildcards other than prefix.* are rejected", arguments: ["*", ".*", "no*tes", "notes*", "a.*.b", "*.x", " x", ""])
    func badPatterns(entry: String) {
        #expect(throws: ChatError.self) { try ToolAllowList(validating: [entry]) }
    }

    @Test("an empty allow-list allows nothing")
    func emptyList() throws {
        #expect(try ToolAllowList(validating: []).match("anything") == nil)
    }

    @Test("JSON merge patch follows RFC 7396")
    func mergePatch() throws {
        let target = try JSONValue.parse(#"{"a":"b","c":{"d":"e","f":"g"},"k":[1]}"#, field: "x")
        let patch = try JSONValue.parse(#"{"a":"z","c":{"f":null},"k":{"n":1},"new":true}"#, field: "x")
        #expect(target.merging(patch: patch).text == #"{"a":"z","c":{"d":"e"},"k":{"n":1},"new":true}"#)
        #expect(try JSONValue.parse("[1]", field: "x").merging(patch: .object(["a": .int(1)])).text == #"{"a":1}"#)
    }

    @Test("cursors are bound to their list")
    func cursors() throws {
        let text = PageCursor(scope: "messages:r1", position: 42, tiebreak: "b").text
        #expect(try PageCursor.decode(text, scope: "messages:r1")?.position == 42)
        #expect(throws: ChatError.self) { try PageCursor.decode(text, scope: "messages:r2") }
        #expect(throws: ChatError.self) { try PageCursor.decode("not-a-cursor!!", scope: "messages:r1") }
        #expect(try PageCursor.decode("", scope: "messages:r1") == nil)
    }

    @Test("event payloads written without JSONEncoder decode to the same entity", arguments: [
        Message(id: "m1", tenantId: "t", roomId: "r", senderProfileId: "alice", role: .user, messageType: .text,
                content: "plain", createdAt: 1, roomSeq: 7),
        Message(id: "m2", tenantId: "t", roomId: "r", threadId: "th", replyToMessageId: "m1", agentSessionId: "s",
                senderProfileId: "agent:x", role: .assistant, messageType: .text,
                content: "quote \" backslash \\ newline \n tab \t bell \u{07} é 🦭 </script>",
                metadata: #"{"clientRequestId":"k","nested":{"a":[1,2.5,null,true]}}"#, createdAt: 2, editedAt: 3,
                deletedAt: 4, version: 3, roomSeq: 9, clientRequestId: "k"),
    ])
    func eventPayloadJSON(message: Message) throws {
        let text = try #require(message.eventPayloadJSON)
        let decoded = try JSONDecoder().decode(EventEntity.self, from: Data(text.utf8))
        #expect(decoded == .message(message))
        var withFile = message
        withFile.attachments = [Attachment(id: "a", filename: "f", contentType: "text/plain", size: 1)]
        #expect(withFile.eventPayloadJSON == nil, "attachments go through the encoder")
    }

    @Test("JSONValue text: compact, sorted keys, escapes, round trip")
    func jsonValueText() throws {
        let text = #"{"b":[1,-2,0.5,true,false,null],"a":"x\"y\\z\n\u0001é","c":{}}"#
        let value = try JSONValue.parse(text, field: "f")
        #expect(value.text == #"{"a":"x\"y\\z\n\u0001é","b":[1,-2,0.5,true,false,null],"c":{}}"#)
        #expect(try JSONValue.parse(value.text, field: "f") == value)
    }

    @Test("server-made ids are RFC 9562 version 7 UUIDs, ordered by their millisecond")
    func uuidV7() throws {
        let early = Identifiers.newUUID(nowMs: 1_764_000_000_000)
        let late = Identifiers.newUUID(nowMs: 1_764_000_000_001)
        for id in [early, late, Identifiers.newUUID()] {
            #expect(id.range(of: #"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"#,
                              options: .regularExpression) != nil, "\(id)")
        }
        #expect(early < late, "a later millisecond sorts later")
        #expect(early.prefix(13) == "019ab697-e800", "the first 48 bits are the Unix milliseconds")
        #expect(Identifiers.newUUID(nowMs: 5) != Identifiers.newUUID(nowMs: 5), "random bits differ")
        // Across several refills of the random buffer (256 ids each): every id well formed and new.
        let many = (0..<1_000).map { _ in Identifiers.newUUID(nowMs: 5) }
        #expect(Set(many).count == many.count)
        #expect(many.allSatisfy { $0.count == 36 && $0.hasPrefix("00000000-0005-7") })
    }

    @Test("strings are escaped as JSON.stringify does, wherever the escaped bytes fall")
    func jsonEscapes() {
        #expect(Identifiers.jsonString("") == #""""#)
        #expect(Identifiers.jsonString("plain ключ ✓") == #""plain ключ ✓""#)
        #expect(Identifiers.jsonString("\"\n") == #""\"\n""#)
        #expect(Identifiers.jsonString("\u{1}ab\\\\cd\t") == #""\u0001ab\\\\cd\t""#)
        #expect(Identifiers.jsonString("a\u{1f}\u{8}\u{c}\rz") == #""a\u001f\b\f\rz""#)
    }
}
