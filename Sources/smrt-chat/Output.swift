import ChatAPI
import ChatClient
import Foundation
import SwiftProtobuf

/// Writing to stdout and stderr (unbuffered, so live output reaches pipes at once), tables and value formats.
enum Output {
    /// Writes one line to stdout.
    static func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// Writes text to stdout as is.
    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Writes one line to stderr.
    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// A message as one line of proto3 JSON.
    static func json(_ message: some SwiftProtobuf.Message) throws {
        line(try message.jsonString())
    }

    /// gRPC canonical code names, by number.
    static let codeNames = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ]

    /// `error: CODE REASON: message`, then one `  key: value` line per metadata entry.
    static func describe(_ error: RPCError) -> String {
        let code = codeNames.indices.contains(error.code) ? codeNames[error.code] : "CODE_\(error.code)"
        var text = "error: \(code) \(error.reason): \(error.message)"
        for key in error.metadata.keys.sorted() { text += "\n  \(key): \(error.metadata[key] ?? "")" }
        return text
    }

    /// Aligned columns under a header; the last column is not padded.
    static func table(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func render(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        line(render(header))
        for row in rows { line(render(row)) }
    }

    /// Label: value lines, labels aligned.
    static func fields(_ pairs: [(String, String)]) {
        let width = pairs.map(\.0.count).max() ?? 0
        for (label, value) in pairs {
            line((label + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0) + " " + value)
        }
    }

    /// A note after a page that has more (how to fetch the next one).
    static func more(_ hasMore: Bool, _ cursor: String) {
        if hasMore { line("(more: --cursor \(cursor))") }
    }

    /// Local date and time of a Unix millisecond timestamp, `yyyy-MM-dd HH:mm:ss` (or `HH:mm:ss.SSS`).
    static func time(_ unixMs: Int64, short: Bool = false) -> String {
        guard unixMs > 0 else { return "-" }
        var seconds = time_t(unixMs / 1000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let clock = "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
        if short {
            let ms = Int(unixMs % 1000)
            return clock + "." + String(repeating: "0", count: 3 - String(ms).count) + String(ms)
        }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) " + clock
    }

    /// A proto enum value's name without its prefix: `.roomCreated` → `ROOM_CREATED`.
    static func name(_ value: some Enum) -> String {
        let swiftName = String(describing: value)
        if swiftName.hasPrefix("UNRECOGNIZED") { return swiftName }
        var result = ""
        for ch in swiftName {
            if ch.isUppercase, !result.isEmpty { result.append("_") }
            result.append(contentsOf: ch.uppercased())
        }
        return result
    }

    /// One line of text at most `limit` characters long (newlines become spaces, an ellipsis marks a cut).
    static func truncate(_ text: String, _ limit: Int = 60) -> String {
        let flat = text.map { $0.isNewline ? " " : String($0) }.joined()
        return flat.count <= limit ? flat : String(flat.prefix(limit - 1)) + "…"
    }

    /// The first 8 characters of an id.
    static func short(_ id: String) -> String { String(id.prefix(8)) }
}
