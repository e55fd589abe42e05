import ChatAPI
import Foundation
import Testing

/// `smrt-chat` run as a subprocess against a real `smrt-chatd` on ipc endpoints in a temporary folder.
@Suite("smrt-chat CLI", .timeLimit(.minutes(1)))
struct CLITests {
    @Test("create-room, send, then messages --json shows the message")
    func createSendList() throws {
        let server = try Server()
        let room = try server.createRoom("general")
        let sent = try server.cli(["send", room, "hello from the cli"])
        #expect(sent.status == 0, "\(sent.stderr)")
        #expect(sent.stdout.hasPrefix("sent "))

        let listed = try server.cli(["messages", room, "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let json = try listed.object()
        let messages = json["messages"] as? [[String: Any]] ?? []
        #expect(messages.count == 1)
        #expect(messages.first?["content"] as? String == "hello from the cli")
        #expect(messages.first?["senderProfileId"] as? String == "alice")

        let table = try server.cli(["messages", room])
        #expect(table.status == 0)
        #expect(table.stdout.contains("CONTENT"))
        #expect(table.stdout.contains("hello from the cli"))
    }

    @Test("call SendMessage with a proto3 JSON request prints the response as JSON")
    func genericCall() throws {
        let server = try Server()
        let room = try server.createRoom("calls")
        let result = try server.cli(["call", "SendMessage", #"{"roomId": "\#(room)", "content": "via call"}"#])
        #expect(result.status == 0, "\(result.stderr)")
        let message = try result.object()["message"] as? [String: Any]
        #expect(message?["content"] as? String == "via call")
        #expect(message?["roomId"] as? String == room)

        // snake_case field names and the request on stdin work too.
        let piped = try server.cli(["call", "send_message"], stdin: #"{"room_id": "\#(room)", "content": "piped"}"#)
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect((try piped.object()["message"] as? [String: Any])?["content"] as? String == "piped")

        // Health needs no credentials.
        let health = try server.cli(["call", "Health"], credentials: false)
        #expect(health.status == 0, "\(health.stderr)")
        #expect(try health.object()["status"] as? String == "SERVING")
    }

    @Test("tail --json --count 3 --room receives the events of three later sends, in seq order")
    func tailRoom() throws {
        let server = try Server()
        let room = try server.createRoom("tailed")
        let head = try server.cli(["events", room, "--json"])
        #expect(head.status == 0, "\(head.stderr)")
        let headSeq = try head.object()["headSeq"].flatMap { Int64("\($0)") } ?? 0

        let tail = try server.start(["tail", "--json", "--count", "3", "--room", room, "--after-seq", "\(headSeq)"])
        for text in ["one", "two", "three"] {
            let sent = try server.cli(["send", room, text])
            #expect(sent.status == 0, "\(sent.stderr)")
        }
        let result = try tail.wait(seconds: 15)
        #expect(result.status == 0, "\(result.stderr)")
        let events = result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(events.count == 3, "\(result.stdout)")
        let seqs = events.compactMap { $0["seq"].flatMap { Int64("\($0)") } }
        #expect(seqs == [headSeq + 1, headSeq + 2, headSeq + 3])
        #expect(events.map { $0["kind"] as? String } == Array(repeating: "EVENT_KIND_MESSAGE_CREATED", count: 3))
        #expect(events.map { ($0["message"] as? [String: Any])?["content"] as? String } == ["one", "two", "three"])
    }

    @Test("pending lists tool calls waiting for approval; approve and reject decide them by call id")
    func approvals() throws {
        let server = try Server()
        let created = try server.cli(["call", "CreateAgentSession",
                                      #"{"agentId": "bot", "allowedTools": ["fs.*"], "approvalTools": ["fs.write"]}"#])
        #expect(created.status == 0, "\(created.stderr)")
        let session = try #require((try created.object()["session"] as? [String: Any])?["id"] as? String)
        for call in ["c1", "c2"] {
            let sent = try server.cli(["call", "SendAgentReply", """
                {"sessionId": "\(session)", "kind": "AGENT_REPLY_KIND_TOOL", "messageType": "MESSAGE_TYPE_TOOL_CALL",
                 "toolCall": {"callId": "\(call)", "name": "fs.write", "arguments": "{}"}}
                """])
            #expect(sent.status == 0, "\(sent.stderr)")
        }
        let pending = try server.cli(["pending"])
        #expect(pending.status == 0 && pending.stdout.contains("c1") && pending.stdout.contains("c2"), "\(pending.stdout)")
        let approved = try server.cli(["approve", "c1"])
        #expect(approved.status == 0 && approved.stdout.contains("c1 fs.write: APPROVED"), "\(approved.stdout) \(approved.stderr)")
        let rejected = try server.cli(["reject", "c2", "--session", session, "--reason", "not now"])
        #expect(rejected.status == 0 && rejected.stdout.contains("REJECTED"), "\(rejected.stdout) \(rejected.stderr)")
        let after = try server.cli(["pending", "--json"])
        let left = try after.object()["approvals"] as? [Any] ?? []
        #expect(after.status == 0 && left.isEmpty, "\(after.stdout)")
        // Deciding again with another answer is refused; an unknown call is not found among the pending ones.
        let again = try server.cli(["reject", "c1", "--session", session])
        #expect(again.status == 1 && again.stderr.contains("TOOL_CALL_ALREADY_DECIDED"), "\(again.stderr)")
        #expect(try server.cli(["approve", "c9"]).status == 1)
    }

    @Test("tail follows a streamed reply's deltas between its events")
    func tailStream() throws {
        let server = try Server()
        let created = try server.cli(["call", "CreateAgentSession", #"{"agentId": "streamer"}"#])
        let session = try #require(try created.object()["session"] as? [String: Any])
        let sessionId = try #require(session["id"] as? String)
        let room = try #require(session["roomId"] as? String)
        let head = try server.cli(["events", room, "--json"]).object()["headSeq"].flatMap { Int64("\($0)") } ?? 0
        let tail = try server.start(["tail", "--count", "2", "--room", room, "--after-seq", "\(head)"])
        let begun = try server.cli(["call", "BeginAgentReply", #"{"sessionId": "\#(sessionId)"}"#])
        let message = try #require((try begun.object()["message"] as? [String: Any])?["id"] as? String)
        for (i, text) in ["Hel", "lo ", "world"].enumerated() {
            let appended = try server.cli(["call", "AppendReplyDelta",
                                           #"{"messageId": "\#(message)", "index": \#(i), "text": "\#(text)"}"#])
            #expect(appended.status == 0, "\(appended.stderr)")
        }
        let finished = try server.cli(["call", "FinishAgentReply",
                                       #"{"messageId": "\#(message)", "status": "STREAM_STATE_COMPLETED"}"#])
        #expect(finished.status == 0, "\(finished.stderr)")
        let result = try tail.wait(seconds: 15)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("MESSAGE_CREATED") }, "\(result.stdout)")
        #expect(lines.contains { $0.contains("MESSAGE_STREAM_FINISHED") && $0.contains("Hello world") }, "\(result.stdout)")
        let deltas = lines.filter { $0.hasPrefix("  +") }
        #expect(deltas == ["  +\(message.prefix(8)) #0 \"Hel\"", "  +\(message.prefix(8)) #1 \"lo \"",
                           "  +\(message.prefix(8)) #2 \"world\""], "\(result.stdout)")
    }

    @Test("errors: an unknown room exits 1 with NOT_FOUND on stderr; usage errors exit 2")
    func errors() throws {
        let server = try Server()
        let missing = try server.cli(["room", UUID().uuidString.lowercased()])
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("error: NOT_FOUND"), "\(missing.stderr)")
        #expect(missing.stdout.isEmpty)

        let unknownOperation = try server.cli(["call", "NoSuchOperation", "{}"])
        #expect(unknownOperation.status == 2)
        let badJSON = try server.cli(["call", "GetRoom", "{not json"])
        #expect(badJSON.status == 2)
        let noKey = try server.cli(["rooms"], credentials: false)
        #expect(noKey.status == 2)
        #expect(noKey.stderr.contains("SMRTCHAT_KEY_ID"))
        let badOption = try server.cli(["rooms", "--no-such-option"])
        #expect(badOption.status == 2)
    }
}

// MARK: - Helpers

/// The result of a finished `smrt-chat` run.
struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String

    /// stdout as one JSON object.
    func object() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(stdout)")
        }
        return object
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A `smrt-chat` process running in the background, its output going to files.
final class RunningCLI: @unchecked Sendable {
    let process: Process
    let stdoutURL: URL
    let stderrURL: URL

    init(process: Process, stdoutURL: URL, stderrURL: URL) {
        self.process = process
        self.stdoutURL = stdoutURL
        self.stderrURL = stderrURL
    }

    /// Waits for the exit (killing the process after `seconds`) and returns its output.
    func wait(seconds: Double) throws -> RunResult {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw TestFailure("smrt-chat \(process.arguments ?? []) did not exit within \(seconds) s; output: "
                + ((try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""))
        }
        process.waitUntilExit()
        return RunResult(status: process.terminationStatus,
                         stdout: (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "")
    }
}

/// A real `smrt-chatd` on ipc endpoints in a temporary folder, with a key of the chat and events scopes.
final class Server: @unchecked Sendable {
    let directory: URL
    let database: String
    let rpc: String
    let events: String
    let keyId: String
    let secret: String
    private let process = Process()
    private let output = Pipe()

    /// A binary of the package's build folder: next to the test bundle, else `.build/debug`.
    static func binary(_ name: String, override: String) -> String {
        if let path = ProcessInfo.processInfo.environment[override] { return path }
        var url = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = url.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            url.deleteLastPathComponent()
        }
        return ".build/debug/\(name)"
    }

    static var serverBinary: String { binary("smrt-chatd", override: "SMRTCHAT_SERVER") }
    static var cliBinary: String { binary("smrt-chat", override: "SMRTCHAT_CLI") }

    init() throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("smrtchat-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        directory = dir
        database = dir.appendingPathComponent("chat.sqlite").path
        rpc = "ipc://\(dir.path)/rpc.sock"
        events = "ipc://\(dir.path)/ev.sock"
        process.executableURL = URL(fileURLWithPath: Self.serverBinary)
        process.arguments = ["serve", "--rpc", rpc, "--events", events, "--db", database, "--log-level", "warning",
                             "--no-rate-limits", "--no-jobs"]
        process.standardOutput = output
        try process.run()
        // Ready when it prints its banner.
        var seen = Data()
        let deadline = Date().addingTimeInterval(20)
        while !String(decoding: seen, as: UTF8.self).contains("serving") {
            guard Date() < deadline, process.isRunning else {
                throw TestFailure("smrt-chatd did not start: \(String(decoding: seen, as: UTF8.self))")
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { Thread.sleep(forTimeInterval: 0.02) }
            seen += chunk
        }
        // A key for tenant-1 with the chat, events and agent scopes.
        let keys = Process()
        keys.executableURL = URL(fileURLWithPath: Self.serverBinary)
        keys.arguments = ["keys", "create", "--db", database, "--tenant", "tenant-1",
                          "--scope", "chat", "--scope", "events", "--scope", "agent", "--json"]
        let pipe = Pipe()
        keys.standardOutput = pipe
        try keys.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        keys.waitUntilExit()
        guard keys.terminationStatus == 0,
              let json = try JSONSerialization.jsonObject(with: data) as? [String: String],
              let keyId = json["key_id"], let secret = json["secret"], RequestSigning.bytes(hex: secret) != nil else {
            throw TestFailure("keys create failed: \(String(decoding: data, as: UTF8.self))")
        }
        self.keyId = keyId
        self.secret = secret
    }

    /// The environment of a CLI run: endpoints always, credentials (tenant-1, actor alice) unless told not to.
    func environment(credentials: Bool) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SMRTCHAT_") }
        env["SMRTCHAT_RPC"] = rpc
        env["SMRTCHAT_EVENTS"] = events
        if credentials {
            env["SMRTCHAT_KEY_ID"] = keyId
            env["SMRTCHAT_SECRET"] = secret
            env["SMRTCHAT_TENANT"] = "tenant-1"
            env["SMRTCHAT_ACTOR"] = "alice"
        }
        return env
    }

    /// Starts `smrt-chat arguments` in the background.
    func start(_ arguments: [String], credentials: Bool = true, stdin: String? = nil) throws -> RunningCLI {
        let id = UUID().uuidString.prefix(8)
        let out = directory.appendingPathComponent("cli-\(id).out")
        let err = directory.appendingPathComponent("cli-\(id).err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.cliBinary)
        p.arguments = arguments
        p.environment = environment(credentials: credentials)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        if let stdin {
            let input = directory.appendingPathComponent("cli-\(id).in")
            try Data(stdin.utf8).write(to: input)
            p.standardInput = try FileHandle(forReadingFrom: input)
        } else {
            p.standardInput = FileHandle.nullDevice
        }
        try p.run()
        return RunningCLI(process: p, stdoutURL: out, stderrURL: err)
    }

    /// Runs `smrt-chat arguments` to its end.
    func cli(_ arguments: [String], credentials: Bool = true, stdin: String? = nil) throws -> RunResult {
        try start(arguments, credentials: credentials, stdin: stdin).wait(seconds: 20)
    }

    /// Creates a public room with the CLI and returns its id.
    func createRoom(_ name: String) throws -> String {
        let result = try cli(["create-room", name, "--json"])
        guard result.status == 0, let room = try result.object()["room"] as? [String: Any],
              let id = room["id"] as? String else {
            throw TestFailure("create-room failed: \(result.status) \(result.stderr)")
        }
        return id
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
