/// The fail-closed tool allow-list of an agent session (SPEC §5).
///
/// An entry is an exact, case-sensitive tool name or a namespace pattern `prefix.*` that matches
/// names starting with `prefix.`. An empty list allows nothing. Any other wildcard shape is invalid.
public struct ToolAllowList: Sendable, Equatable {
    public let entries: [String]

    /// Validates `entries` (INVALID_ARGUMENT VALIDATION on `allowed_tools` when one is malformed).
    public init(validating entries: [String], limits: ChatLimits = ChatLimits(), field: String = "allowed_tools") throws {
        guard entries.count <= limits.maxAllowedTools else {
            throw ChatError.validation(field, "has more than \(limits.maxAllowedTools) entries")
        }
        for entry in entries {
            guard !entry.isEmpty else { throw ChatError.validation(field, "entries must not be empty") }
            guard entry.utf8.count <= limits.maxToolNameBytes else {
                throw ChatError.validation(field, "entry longer than \(limits.maxToolNameBytes) bytes")
            }
            guard Self.isValidEntry(entry) else {
                throw ChatError.validation(field, "'\(entry)' is neither a tool name nor a 'prefix.*' pattern")
            }
        }
        self.entries = entries
    }

    /// A list read back from storage (already validated when written).
    public init(trusted entries: [String]) { self.entries = entries }

    /// Whether `entry` is an exact name (no `*`, no whitespace or control characters) or `prefix.*`.
    static func isValidEntry(_ entry: String) -> Bool {
        var name = Substring(entry)
        if entry.hasSuffix(".*") {
            name = entry.dropLast(2)
            guard !name.isEmpty else { return false }
        }
        return !name.unicodeScalars.contains { $0 == "*" || $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }
    }

    /// The entry that allows `toolName`, or nil (an empty name is never allowed).
    public func match(_ toolName: String) -> String? {
        guard !toolName.isEmpty else { return nil }
        for entry in entries {
            if entry.hasSuffix(".*") {
                let prefix = entry.dropLast(1)  // keeps the dot: "notes."
                if toolName.hasPrefix(prefix) && toolName.count > prefix.count { return entry }
            } else if entry == toolName {
                return entry
            }
        }
        return nil
    }
}
