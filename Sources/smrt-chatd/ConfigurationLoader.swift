import ChatServer
import ChatStore
import Foundation

/// Reads `ServerConfiguration` and the storage settings from an optional file, then the environment, then flags (each later
/// source overrides the earlier ones).
///
/// Keys (file lines `key = value`, `#` comments; environment `SMRTCHAT_` + the key in upper case):
/// `rpc` (comma-separated endpoints), `events`, `db`, `storage` (`sqlite:PATH` or a PostgreSQL URL
/// `postgres://user@host:port/db`; a PostgreSQL URL given as `db` works too), `pg_pool` (connections per
/// instance), `durability` (normal|full), `workers`,
/// `max_frame_bytes`, `signature_window_ms`, `key_rate`, `key_burst`, `tenant_rate`, `tenant_burst`
/// (0 turns a rate limit off), `payload_mode` (full|ids), `retention_seconds`, `retention_interval`,
/// `session_expiry_interval`, `session_idle_seconds` (0 turns a job off), `stream_job_interval` (0: off),
/// `stream_idle_seconds`, `delta_retention_seconds`, `approval_ttl_seconds`, `export_ttl_seconds`, `read_events` (true|false),
/// `unread_count_cap` (1…1,000,000),
/// `log_format` (text|json), `metrics` (HOST:PORT of the Prometheus endpoint; empty: off).
enum ConfigurationLoader {
    static let keys = ["rpc", "events", "db", "storage", "pg_pool", "durability", "workers", "max_frame_bytes", "signature_window_ms",
                       "key_rate", "key_burst", "tenant_rate", "tenant_burst", "payload_mode", "retention_seconds",
                       "retention_interval", "session_expiry_interval", "session_idle_seconds", "stream_job_interval",
                       "stream_idle_seconds", "delta_retention_seconds", "approval_ttl_seconds", "export_ttl_seconds", "read_events",
                       "unread_count_cap", "log_format",
                       "metrics"]

    static func load(file: String?, overrides: [String: String]) throws -> (ServerConfiguration, StorageSettings) {
        var values: [String: String] = [:]
        if let file {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            for line in text.split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
                let parts = trimmed.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2 else { throw ConfigError("\(file): expected key = value, got '\(trimmed)'") }
                values[parts[0]] = parts[1]
            }
        }
        let env = ProcessInfo.processInfo.environment
        for key in keys { if let v = env["SMRTCHAT_" + key.uppercased()] { values[key] = v } }
        for (k, v) in overrides { values[k] = v }
        for key in values.keys where !keys.contains(key) { throw ConfigError("unknown configuration key '\(key)'") }
        return try apply(values)
    }

    static func apply(_ values: [String: String]) throws -> (ServerConfiguration, StorageSettings) {
        var c = ServerConfiguration()
        var storage = StorageSettings()
        func int(_ key: String) throws -> Int64? {
            guard let v = values[key] else { return nil }
            guard let n = Int64(v), n >= 0 else { throw ConfigError("\(key) must be a non-negative integer") }
            return n
        }
        func double(_ key: String) throws -> Double? {
            guard let v = values[key] else { return nil }
            guard let n = Double(v), n >= 0 else { throw ConfigError("\(key) must be a non-negative number") }
            return n
        }
        if let v = values["rpc"] { c.rpcEndpoints = v.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        if let v = values["events"] { c.eventsEndpoint = v }
        if let v = values["db"] { try storage.select(v, plainPath: true) }
        if let v = values["storage"] { try storage.select(v, plainPath: false) }
        if let v = try int("pg_pool") { storage.postgresPoolSize = max(1, Int(v)) }
        if let v = values["durability"] {
            guard let d = SQLiteConfiguration.Durability(rawValue: v) else { throw ConfigError("durability: normal or full") }
            storage.durability = d
        }
        if let v = try int("workers") { c.workerThreads = max(1, Int(v)) }
        if let v = try int("max_frame_bytes") { c.maxFrameBytes = Int(v) }
        if let v = try int("signature_window_ms") { c.signatureWindowMs = v }
        if let v = try double("key_rate") { c.keyRatePerSecond = v }
        if let v = try double("key_burst") { c.keyBurst = v }
        if let v = try double("tenant_rate") { c.tenantRatePerSecond = v }
        if let v = try double("tenant_burst") { c.tenantBurst = v }
        if let v = values["payload_mode"] {
            guard let m = ServerConfiguration.PayloadMode(rawValue: v) else { throw ConfigError("payload_mode: full or ids") }
            c.payloadMode = m
        }
        if let v = try int("retention_seconds") { c.eventRetentionSeconds = max(1, v) }
        if let v = try int("retention_interval") { c.retentionIntervalSeconds = v }
        if let v = try int("session_expiry_interval") { c.sessionExpiryIntervalSeconds = v }
        if let v = try int("session_idle_seconds") { c.sessionIdleSeconds = v }
        if let v = try int("stream_job_interval") { c.streamJobIntervalSeconds = v }
        if let v = try int("stream_idle_seconds") { c.limits.streamIdleSeconds = max(1, min(v, c.limits.maxDurationSeconds)) }
        if let v = try int("delta_retention_seconds") { c.limits.deltaRetentionSeconds = max(0, min(v, c.limits.maxDurationSeconds)) }
        if let v = try int("approval_ttl_seconds") { c.limits.approvalTtlSeconds = max(1, min(v, c.limits.maxDurationSeconds)) }
        if let v = try int("export_ttl_seconds") { c.limits.exportTtlSeconds = max(1, min(v, c.limits.maxDurationSeconds)) }
        if let v = try int("unread_count_cap") { c.limits.unreadCountCap = max(1, min(v, 1_000_000)) }
        if let v = values["read_events"] { c.limits.emitReadEvents = v == "true" || v == "1" }
        if let v = values["metrics"] { c.metricsAddress = v.trimmingCharacters(in: .whitespaces) }
        if let v = values["log_format"] {
            guard v == "text" || v == "json" else { throw ConfigError("log_format: text or json") }
            c.logFormat = v
        }
        return (c, storage)
    }
}

/// A configuration mistake, reported to the operator as is.
struct ConfigError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
