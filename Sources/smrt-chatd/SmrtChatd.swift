import ArgumentParser
import ChatAPI
import ChatCore
import ChatServer
import Foundation
import Logging
import ServiceLifecycle

@main
struct SmrtChatd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smrt-chatd",
        abstract: "The SmrtChat server: chat rooms, messages and agent sessions over nanomsg RPC.",
        subcommands: [Serve.self, Migrate.self, Keys.self, Check.self, Audit.self, Purge.self, Backup.self, Import.self],
        defaultSubcommand: Serve.self)
}

/// Serves until SIGTERM or SIGINT, then shuts down gracefully and exits 0.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve calls and publish events (foreground).")

    @Option(help: "Configuration file (key = value lines).") var config: String?
    @Option(help: "RPC endpoint(s), comma-separated (default tcp://127.0.0.1:7450).") var rpc: String?
    @Option(help: "Events PUB endpoint (default tcp://127.0.0.1:7451).") var events: String?
    @Option(help: "SQLite database path (default ./data/chat.sqlite).") var db: String?
    @Option(help: "Storage: sqlite:PATH or postgres://user@host:port/database (several instances may share one).")
    var storage: String?
    @Option(help: "normal or full.") var durability: String?
    @Option(help: "Worker threads.") var workers: Int?
    @Option(help: "Event payload mode: full or ids.") var payloadMode: String?
    @Flag(help: "Turn per-key and per-tenant rate limits off.") var noRateLimits = false
    @Flag(help: "Turn the periodic jobs (session expiry, retention) off.") var noJobs = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "info"
    @Option(help: "Log format: text or json (one object per line).") var logFormat: String?
    @Option(help: "Serve Prometheus metrics on HOST:PORT (GET /metrics); empty: off.") var metrics: String?

    func run() async throws {
        var overrides: [String: String] = [:]
        if let rpc { overrides["rpc"] = rpc }
        if let events { overrides["events"] = events }
        if let db { overrides["db"] = db }
        if let storage { overrides["storage"] = storage }
        if let durability { overrides["durability"] = durability }
        if let workers { overrides["workers"] = String(workers) }
        if let payloadMode { overrides["payload_mode"] = payloadMode }
        if let logFormat { overrides["log_format"] = logFormat }
        if let metrics { overrides["metrics"] = metrics }
        if noRateLimits { overrides["key_rate"] = "0"; overrides["tenant_rate"] = "0" }
        if noJobs {
            overrides["retention_interval"] = "0"
            overrides["session_expiry_interval"] = "0"
            overrides["stream_job_interval"] = "0"
        }
        let (configuration, settings) = try ConfigurationLoader.load(file: config, overrides: overrides)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = configuration.logFormat == "json"
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "smrt.chat")
        // Metrics first: the handlers made from here on go to its registry.
        let metricsEndpoint = configuration.metricsAddress.isEmpty ? nil
            : try MetricsEndpoint(address: configuration.metricsAddress,
                                  databaseFile: settings.postgresURL == nil ? settings.databasePath : nil)
        // The composition root: the publisher, the engine (whose commits it publishes), then the server over both.
        let publisher = try EventPublisher(configuration, logger: logger)
        let engine: Engine
        do {
            engine = try Engine.open(settings, onCommit: { publisher.publish($0) }, onStream: { publisher.publish($0) },
                                     logger: logger)
        } catch {
            publisher.stop()
            throw error
        }
        let server: ChatServer
        do {
            server = try ChatServer(configuration, storage: engine.storage, logger: logger)
        } catch {
            engine.storage.close()
            publisher.stop()
            throw error
        }
        metricsEndpoint?.observe(publisher: publisher, storage: engine.storage)
        let banner = "smrt-chatd serving rpc=\(configuration.rpcEndpoints.joined(separator: ",")) "
            + "events=\(configuration.eventsEndpoint) db=\(settings.description)"
            + (configuration.metricsAddress.isEmpty ? "" : " metrics=http://\(configuration.metricsAddress)/metrics") + "\n"
        // A group shuts its services down in reverse order: the server answers every call it admitted (its
        // queued mutations commit, publishing their events), the jobs end, the storage checkpoints and
        // closes, and the publisher, last, sends what the commits queued.
        let services: [any Service] = [publisher, StorageService(storage: engine.storage)] + (metricsEndpoint.map { [$0] } ?? [])
            + server.periodicJobs + [AnnouncedServer(server: server, banner: banner)]
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// The server, announced on stdout (the banner supervisors and tests wait for) when it starts serving: the
/// group has trapped SIGTERM and SIGINT by then, so a signal sent as soon as the banner is read shuts down
/// gracefully.
struct AnnouncedServer: Service, CustomStringConvertible {
    let server: ChatServer
    let banner: String

    var description: String { "server" }

    func run() async {
        FileHandle.standardOutput.write(Data(banner.utf8))
        await server.run()
    }
}

/// Keeps the storage open while the services shut down before it in the group run, then closes it.
struct StorageService: Service, CustomStringConvertible {
    let storage: any ChatStorage

    var description: String { "storage" }

    func run() async {
        try? await gracefulShutdown()
        await onDedicatedThread("smrt.chat.storage.close") { [storage] in storage.close() }
    }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or migrate the database and exit.")
    @OptionGroup var location: StorageLocation

    func run() throws {
        let applied = try Engine.migrate(location.settings)
        print("migrated \(location.settings.description): \(applied.joined(separator: ", "))")
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the database: SQLite integrity, gap-free event seqs matching their rows, exact counters.")
    @OptionGroup var location: StorageLocation

    func run() throws {
        let engine = try Engine.open(location.settings)
        defer { engine.storage.close() }
        let report = try engine.checkConsistency()
        print(report)
        if !report.isConsistent { throw ExitCode(1) }
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage service credentials (works while the server runs; takes effect on its next call).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; the secret is printed once.")
        @OptionGroup var location: StorageLocation
        @Option(name: .customLong("tenant"), help: "A tenant the key may act in (repeatable).") var tenants: [String] = []
        @Flag(help: "The key may act in every tenant.") var allTenants = false
        @Option(name: .customLong("scope"), help: "chat, agent, events or admin (repeatable; default chat).")
        var scopes: [String] = []
        @Flag(help: "Print {\"key_id\": …, \"secret\": …} as JSON.") var json = false

        func validate() throws {
            guard allTenants || !tenants.isEmpty else { throw ValidationError("give --tenant T (repeatable) or --all-tenants") }
            for s in scopes where Scope(rawValue: s) == nil { throw ValidationError("unknown scope '\(s)'") }
        }

        func run() throws {
            let storage = try Engine.open(location.settings).storage
            defer { storage.close() }
            let key = ApiKey(keyId: "sk_" + RequestSigning.hex(randomBytes(8)), secret: randomBytes(32), tenants: tenants,
                             allTenants: allTenants, scopes: Set((scopes.isEmpty ? ["chat"] : scopes).compactMap(Scope.init)),
                             createdAt: ChatDomain.systemClock())
            var detail = JSONText(capacity: 128)
            detail.beginObject()
            detail.key("all_tenants")
            detail.bool(key.allTenants)
            detail.key("scopes")
            detail.beginArray()
            for scope in key.scopes.map(\.rawValue).sorted() { detail.string(scope) }
            detail.endArray()
            detail.key("tenants")
            detail.beginArray()
            for tenant in key.tenants { detail.string(tenant) }
            detail.endArray()
            detail.endObject()
            let audit = AuditEntry(at: key.createdAt, actor: cliActor(), action: .keyCreate, subject: key.keyId,
                                   detail: detail.text)
            try storage.writeBlocking {
                try $0.insertApiKey(key)
                try $0.appendAudit(audit)
            }
            let secret = RequestSigning.hex(key.secret)
            if json {
                print("{\"key_id\": \"\(key.keyId)\", \"secret\": \"\(secret)\"}")
            } else {
                print("key_id: \(key.keyId)\nsecret: \(secret)   (shown once: store it now)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var location: StorageLocation

        func run() throws {
            let storage = try Engine.open(location.settings).storage
            defer { storage.close() }
            for key in try storage.read({ try $0.apiKeys() }) {
                let tenants = key.allTenants ? "*" : key.tenants.joined(separator: ",")
                let status = key.revokedAt == nil ? "active" : "revoked"
                print("\(key.keyId)\t\(status)\ttenants=\(tenants)\tscopes=\(key.scopes.map(\.rawValue).sorted().joined(separator: ","))")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key.")
        @OptionGroup var location: StorageLocation
        @Argument(help: "The key id.") var keyId: String

        func run() throws {
            let storage = try Engine.open(location.settings).storage
            defer { storage.close() }
            let now = ChatDomain.systemClock()
            let keyId = self.keyId
            let actor = cliActor()
            guard try storage.writeBlocking({ tx in
                let revoked = try tx.revokeApiKey(id: keyId, at: now)
                try tx.appendAudit(AuditEntry(at: now, actor: actor, action: .keyRevoke, subject: keyId,
                                              outcome: revoked ? .ok : .failed))
                return revoked
            }) else {
                throw ValidationError("no key '\(keyId)'")
            }
            print("revoked \(keyId)")
        }
    }
}

/// Lists the audit trail: key creation and revocation, session expiry by admins and jobs, refused admin calls.
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the audit trail, oldest first.")
    @OptionGroup var location: StorageLocation
    @Option(help: "Only lines at or after this time: Unix milliseconds or an ISO 8601 date (2026-12-07T10:00:00Z).")
    var since: String?
    @Option(help: "At most this many lines.") var limit: Int = 1000
    @Flag(help: "One JSON object per line instead of a table.") var json = false

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
        if let since, Self.milliseconds(since) == nil { throw ValidationError("--since: Unix ms or ISO 8601, not '\(since)'") }
    }

    static func milliseconds(_ value: String) -> Int64? {
        if let ms = Int64(value) { return ms }
        return ISO8601DateFormatter().date(from: value).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }

    func run() throws {
        let storage = try Engine.open(location.settings).storage
        defer { storage.close() }
        let since = self.since.flatMap(Self.milliseconds) ?? 0
        var afterId: Int64 = 0
        var left = limit
        if !json { print(["id", "at", "actor", "action", "tenant", "subject", "outcome", "detail"].joined(separator: "\t")) }
        while left > 0 {
            let page = try storage.read { try $0.auditEntries(since: since, afterId: afterId, limit: min(left, 500)) }
            for entry in page { print(json ? Self.json(entry) : Self.row(entry)) }
            guard let last = page.last, page.count == min(left, 500) else { break }
            afterId = last.id
            left -= page.count
        }
    }

    static func row(_ e: AuditEntry) -> String {
        let at = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(e.at) / 1000))
        return ["\(e.id)", at, e.actor, e.action.rawValue, e.tenantId ?? "-", e.subject ?? "-", e.outcome.rawValue, e.detail]
            .joined(separator: "\t")
    }

    static func json(_ e: AuditEntry) -> String {
        var text = JSONText(capacity: 256)
        text.beginObject()
        text.key("action")
        text.string(e.action.rawValue)
        text.key("actor")
        text.string(e.actor)
        text.key("at_ms")
        text.int(e.at)
        text.key("detail")
        text.string(e.detail)
        text.key("id")
        text.int(e.id)
        text.key("outcome")
        text.string(e.outcome.rawValue)
        text.key("subject")
        if let subject = e.subject { text.string(subject) } else { text.null() }
        text.key("tenant_id")
        if let tenant = e.tenantId { text.string(tenant) } else { text.null() }
        text.endObject()
        return text.text
    }
}

struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the retention job now: messages past their room's retention, old events, old request ids.",
        discussion: """
            What the server's retention job does every retention_interval, on demand (also while the server runs). \
            --now-ms runs it as at another time (tests, or catching up after a policy change). Prints what it removed.
            """)
    @OptionGroup var location: StorageLocation
    @Option(help: "Run as at this time (Unix milliseconds; default: now).") var nowMs: Int64?
    @Option(help: "Event log retention in seconds (default 604800, as the server's retention_seconds).")
    var retentionSeconds: Int64 = 7 * 24 * 3600

    func run() async throws {
        let storage = try Engine.open(location.settings).storage
        defer { storage.close() }
        var domain = ChatDomain()
        if let nowMs { domain.clock = { nowMs } }
        let report = try await ChatService(domain: domain, storage: storage)
            .purge(eventRetentionSeconds: max(1, retentionSeconds),
                   replayCutoff: domain.clock() - 2 * ServerConfiguration().signatureWindowMs)
        print("purged \(report.messages) messages in \(report.rooms) rooms, \(report.events) events, "
              + "\(report.replayEntries) request ids")
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recreate a tenant or room export (smrt-chat export, ExportTenant/ExportRoom) in an empty database.",
        discussion: """
            Every entity is written as exported, in one transaction (all or nothing). Event logs are not exported: each \
            imported room's log starts with one ROOM_IMPORTED event after the highest room_seq of its messages. Keys \
            are not exported either: create them with 'smrt-chatd keys create'. Another format version is refused.
            """)
    @OptionGroup var location: StorageLocation
    @Argument(help: "The NDJSON export file.") var file: String

    func run() throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).makeIterator()
        guard let first = lines.next() else { throw ValidationError("\(file) is empty") }
        let header: (tenantId: String, scope: String)
        do {
            header = try ExportLines.readHeader(String(first))
        } catch let error as ExportLines.FormatError {
            throw ValidationError("\(file): \(error.description)")
        }
        guard header.scope != "profile" else {
            // A profile's export names threads, messages and rooms it does not hold (replies, reactions on others'
            // messages): it is a copy for the person, not a database.
            throw ValidationError("\(file) is a profile export: import takes tenant and room exports")
        }
        var rows: [ExportKind: [ExportRow]] = [:]
        var number = 1
        while let line = lines.next() {
            number += 1
            do {
                let row = try ExportLines.readLine(String(line), tenantId: header.tenantId)
                rows[row.kind, default: []].append(row)
            } catch {
                throw ValidationError("\(file), line \(number): \(error)")
            }
        }
        let storage = try Engine.open(location.settings).storage
        defer { storage.close() }
        guard try !storage.read({ try $0.holdsChatData() }) else {
            throw ValidationError("import needs an empty database: \(location.settings.description) holds rooms")
        }
        let domain = ChatDomain()
        let imported = rows
        let tenant = header.tenantId
        try storage.writeBlocking { tx in
            for kind in ChatDomain.importOrder {
                for row in imported[kind] ?? [] { try domain.importRow(tx, row) }
            }
            try domain.setThreadRoots(tx, (imported[.thread] ?? []).compactMap {
                if case .thread(let t) = $0 { return t }
                return nil
            })
            var seqs: [String: Int64] = [:]
            for row in imported[.room] ?? [] { if case .room(let r) = row { seqs[r.id] = 0 } }
            for row in imported[.message] ?? [] {
                if case .message(let m, _) = row { seqs[m.roomId] = max(seqs[m.roomId] ?? 0, m.roomSeq) }
            }
            try domain.finishImport(tx, tenantId: tenant, roomSeqs: seqs)
        }
        let counts = ExportKind.allCases.map { "\(rows[$0]?.count ?? 0) \($0.rawValue)" }.joined(separator: ", ")
        print("imported tenant \(tenant) (\(header.scope) export): \(counts)")
    }
}

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the SQLite database to OUT while the server runs (a consistent online backup).",
        discussion: """
            Uses SQLite's backup API on one snapshot: the copy holds every write committed before it started. Check \
            it with 'smrt-chatd check --db OUT'. On PostgreSQL use its own tools (pg_basebackup, pg_dump).
            """)
    @OptionGroup var location: StorageLocation
    @Argument(help: "The backup file to write (must not exist).") var out: String

    func run() throws {
        let settings = location.settings
        guard settings.postgresURL == nil else {
            throw ValidationError("backup copies SQLite databases; for PostgreSQL use pg_basebackup or pg_dump")
        }
        guard !FileManager.default.fileExists(atPath: out) else { throw ValidationError("\(out) exists already") }
        let pages = try Engine.backup(settings, to: out)
        print("backed up \(settings.databasePath) to \(out) (\(pages) pages)")
    }
}

/// The audit trail's name for whoever runs an smrt-chatd command on this machine.
func cliActor() -> String { "cli:" + ProcessInfo.processInfo.userName }

/// Where the maintenance commands find the database: `--storage` (sqlite:PATH or a PostgreSQL URL), else
/// `--db` (a SQLite path or a PostgreSQL URL), else `SMRTCHAT_STORAGE`, else `SMRTCHAT_DB`, else ./data/chat.sqlite.
struct StorageLocation: ParsableArguments {
    @Option(help: "SQLite database path, or a PostgreSQL URL.") var db: String?
    @Option(help: "sqlite:PATH or postgres://user@host:port/database.") var storage: String?

    var settings: StorageSettings {
        let env = ProcessInfo.processInfo.environment
        var settings = StorageSettings()
        let value = storage ?? db ?? env["SMRTCHAT_STORAGE"] ?? env["SMRTCHAT_DB"] ?? settings.databasePath
        try? settings.select(value, plainPath: true)
        return settings
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}
