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
///
/// With `SMRTCHAT_TEST_STORAGE=postgres://user@host:port/db` (an admin URL) every server gets a fresh
/// PostgreSQL database (`CREATE DATABASE t_<random>`, dropped when the last server using it goes away)
/// and `SMRTCHAT_TEST_INSTANCES` (default 1) instances sharing it, each on its own rpc/events endpoints;
/// `client()` connects to all of them (one instance when rate limits are on: they are per instance). A caller
/// that passes its own SQLite path keeps SQLite (one instance).
final class ServerProcess: @unchecked Sendable {
    let directory: URL
    /// The SQLite path or the PostgreSQL URL every instance uses.
    let database: String
    /// The first instance's endpoints.
    let rpc: String
    let events: String
    /// Every instance's endpoints, in instance order.
    let rpcs: [String]
    let eventsEndpoints: [String]
    private var processes: [Process] = []
    private var outputs: [Pipe] = []

    /// The admin URL of the PostgreSQL server the suite runs against, if any.
    static var postgresAdminURL: String? {
        guard let url = ProcessInfo.processInfo.environment["SMRTCHAT_TEST_STORAGE"], url.hasPrefix("postgres") else {
            return nil
        }
        return url
    }

    /// Instances per server in PostgreSQL mode.
    static var defaultInstances: Int {
        guard postgresAdminURL != nil else { return 1 }
        return max(1, Int(ProcessInfo.processInfo.environment["SMRTCHAT_TEST_INSTANCES"] ?? "1") ?? 1)
    }

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

    /// The first of 6 consecutive loopback TCP ports that are free now, below Linux's ephemeral range (32768 on):
    /// above it, the outgoing connections of the servers (to PostgreSQL, among others) can hold a chosen port.
    static func freePort() -> Int {
        func free(_ port: Int) -> Bool {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
        }
        while true {
            let port = Int.random(in: 20_000...32_000)
            if (port..<port + 6).allSatisfy(free) { return port }
        }
    }

    init(_ transport: Transport, arguments: [String] = ["--no-rate-limits", "--no-jobs"], database: String? = nil,
         directory: URL? = nil, instances: Int? = nil) throws {
        let dir = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.directory = dir
        var count = 1
        // Rate limits are per instance (docs/cluster.md): a server that keeps them on runs one instance, so
        // "over its rate" means the same thing as on SQLite.
        let perInstanceLimits = !arguments.contains("--no-rate-limits")
        let clusterInstances = instances ?? (perInstanceLimits ? 1 : Self.defaultInstances)
        if let database {
            if database.hasPrefix("postgres") {
                Self.retain(database)
                count = clusterInstances
            }
            self.database = database
        } else if let admin = Self.postgresAdminURL {
            self.database = try Self.createDatabase(admin: admin)
            count = clusterInstances
        } else {
            self.database = dir.appendingPathComponent("chat.sqlite").path
        }
        var rpcs: [String] = []
        var events: [String] = []
        let port = Self.freePort()
        for i in 0..<count {
            let suffix = i == 0 ? "" : "\(i)"
            switch transport {
            case .ipc:
                rpcs.append("ipc://\(dir.path)/rpc\(suffix).sock")
                events.append("ipc://\(dir.path)/events\(suffix).sock")
            case .tcp:
                rpcs.append("tcp://127.0.0.1:\(port + 2 * i)")
                events.append("tcp://127.0.0.1:\(port + 2 * i + 1)")
            }
        }
        self.rpcs = rpcs
        self.eventsEndpoints = events
        rpc = rpcs[0]
        self.events = events[0]
        for i in 0..<count {
            try launch(rpc: rpcs[i], events: events[i], arguments: arguments)
        }
    }

    /// Starts one instance and waits for its banner.
    private func launch(rpc: String, events: String, arguments: [String]) throws {
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--rpc", rpc, "--events", events, "--db", database, "--log-level", "warning"]
            + arguments
        process.standardOutput = output
        try process.run()
        processes.append(process)
        outputs.append(output)
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

    // MARK: PostgreSQL databases of the suite

    nonisolated(unsafe) private static var references: [String: Int] = [:]
    private static let referencesLock = NSLock()

    private static func retain(_ url: String) {
        referencesLock.lock()
        references[url, default: 0] += 1
        referencesLock.unlock()
    }

    /// True when this was the last reference.
    private static func release(_ url: String) -> Bool {
        referencesLock.lock()
        defer { referencesLock.unlock() }
        references[url, default: 1] -= 1
        if references[url] == 0 { references[url] = nil; return true }
        return false
    }

    /// `CREATE DATABASE t_<random>` on the admin server; returns its URL.
    static func createDatabase(admin: String) throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try psql(admin, "CREATE DATABASE \(name)")
        guard var components = URLComponents(string: admin) else { throw ServerError("bad admin URL \(admin)") }
        components.path = "/" + name
        let url = components.string!
        retain(url)
        return url
    }

    static func dropDatabase(_ url: String) {
        guard let admin = postgresAdminURL, let components = URLComponents(string: url) else { return }
        let name = String(components.path.dropFirst())
        try? psql(admin, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs `sql` with psql; returns its output rows (unaligned, tuples only).
    @discardableResult
    static func psql(_ url: String, _ sql: String) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ServerError("psql \(sql) exited \(p.terminationStatus)") }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
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
        var config = ClientConfiguration(rpcEndpoints: rpcs, eventsEndpoints: eventsEndpoints, tenantId: tenant,
                                         actorProfileId: actor, keyId: k.keyId, secret: k.secret)
        config.timeoutMs = 10_000
        configure(&config)
        return try ChatClient(config)
    }

    /// The first instance's process id.
    var pid: Int32 { processes[0].processIdentifier }
    var isRunning: Bool { processes[0].isRunning }
    /// Every instance's process id.
    var pids: [Int32] { processes.map(\.processIdentifier) }

    /// SIGTERM every instance and wait; returns the first one's exit status.
    @discardableResult
    func stop() -> Int32 {
        for process in processes where process.isRunning { process.terminate() }
        for process in processes { process.waitUntilExit() }
        return processes.first?.terminationStatus ?? 0
    }

    /// SIGKILL one instance (failover tests).
    func kill(instance: Int) {
        let process = processes[instance]
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
        if database.hasPrefix("postgres"), Self.release(database) { Self.dropDatabase(database) }
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
