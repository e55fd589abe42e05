import ChatAPI
import ChatClient
import Foundation
import Testing

/// The transports the end-to-end suites run over.
enum Transport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case ipc, tcp
    var testDescription: String { rawValue }
}

/// A real `smrt-chatd` started from the build folder on a temporary database and free endpoints.
final class ServerProcess: @unchecked Sendable {
    let directory: URL
    let database: String
    let rpc: String
    let events: String
    private let process = Process()
    private let output = Pipe()

    /// Path of the server binary next to the test bundle (the package's build folder).
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["SMRTCHAT_SERVER"] { return path }
        var url = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = url.appendingPathComponent("smrt-chatd").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            url.deleteLastPathComponent()
        }
        return ".build/debug/smrt-chatd"
    }

    static func freePort() -> Int { Int.random(in: 20_000...60_000) }

    init(_ transport: Transport, arguments: [String] = ["--no-rate-limits", "--no-jobs"], database: String? = nil,
         directory: URL? = nil) throws {
        let dir = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.directory = dir
        self.database = database ?? dir.appendingPathComponent("chat.sqlite").path
        switch transport {
        case .ipc:
            rpc = "ipc://\(dir.path)/rpc.sock"
            events = "ipc://\(dir.path)/events.sock"
        case .tcp:
            let port = Self.freePort()
            rpc = "tcp://127.0.0.1:\(port)"
            events = "tcp://127.0.0.1:\(port + 1)"
        }
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--rpc", rpc, "--events", events, "--db", self.database,
                             "--log-level", "warning"] + arguments
        process.standardOutput = output
        try process.run()
        // Ready when it prints its banner.
        let handle = output.fileHandleForReading
        var seen = Data()
        let deadline = Date().addingTimeInterval(20)
        while !String(decoding: seen, as: UTF8.self).contains("serving") {
            guard Date() < deadline, process.isRunning else {
                throw ServerError("smrt-chatd did not start: \(String(decoding: seen, as: UTF8.self))")
            }
            let chunk = handle.availableData
            if chunk.isEmpty { Thread.sleep(forTimeInterval: 0.02) }
            seen += chunk
        }
    }

    /// Creates a key with `smrt-chatd keys create --json`.
    func createKey(tenants: [String] = ["tenant-1"], scopes: [String] = ["chat"], allTenants: Bool = false) throws
        -> (keyId: String, secret: [UInt8]) {
        var args = ["keys", "create", "--db", database, "--json"]
        if allTenants { args.append("--all-tenants") }
        for t in tenants where !allTenants { args += ["--tenant", t] }
        for s in scopes { args += ["--scope", s] }
        let out = try Self.run(args)
        let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: String]
        return (json["key_id"]!, RequestSigning.bytes(hex: json["secret"]!)!)
    }

    func revokeKey(_ keyId: String) throws { _ = try Self.run(["keys", "revoke", "--db", database, keyId]) }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ServerError("smrt-chatd \(arguments) exited \(p.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// A client of this server with a key of the given scopes.
    func client(actor: String = "alice", tenant: String = "tenant-1", scopes: [String] = ["chat"],
                key: (keyId: String, secret: [UInt8])? = nil, configure: (inout ClientConfiguration) -> Void = { _ in })
        throws -> ChatClient {
        let k = try key ?? createKey(tenants: [tenant], scopes: scopes)
        var config = ClientConfiguration(rpcEndpoints: [rpc], eventsEndpoints: [events], tenantId: tenant,
                                         actorProfileId: actor, keyId: k.keyId, secret: k.secret)
        config.timeoutMs = 10_000
        configure(&config)
        return try ChatClient(config)
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

struct ServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Expects an RPCError with `reason` (and `code`).
@discardableResult
func expectRPC(_ reason: String, code: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation,
               _ body: () async throws -> Void) async -> RPCError? {
    do {
        try await body()
        Issue.record("expected \(reason), the call succeeded", sourceLocation: sourceLocation)
    } catch let error as RPCError {
        #expect(error.reason == reason, "expected \(reason), got \(error)", sourceLocation: sourceLocation)
        if let code { #expect(error.code == code, "expected code \(code), got \(error)", sourceLocation: sourceLocation) }
        return error
    } catch {
        Issue.record("expected \(reason), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
