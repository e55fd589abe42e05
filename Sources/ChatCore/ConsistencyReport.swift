/// What an engine's `checkConsistency()` found: the engine's own integrity check plus the invariants the
/// write path maintains (gap-free seq matching the rows, exact counters).
public struct ConsistencyReport: Sendable, Equatable, CustomStringConvertible {
    public init(integrity: String, problems: [String]) {
        self.integrity = integrity
        self.problems = problems
    }

    /// The engine's integrity check (`PRAGMA integrity_check` on SQLite; "ok" when sound).
    public var integrity: String
    /// Violations, one line each.
    public var problems: [String]

    public var isConsistent: Bool { integrity == "ok" && problems.isEmpty }

    public var description: String {
        isConsistent ? "consistent" : "integrity: \(integrity); problems:\n" + problems.joined(separator: "\n")
    }
}
