import ArgumentParser
import ChatAPI
import ChatClient
import Foundation

/// Whether to colour output: only on a terminal, never with --no-color or the NO_COLOR environment variable.
struct ColorOptions: ParsableArguments {
    @Flag(help: "Never colour the output (default: colour only when stdout is a terminal).") var noColor = false

    var enabled: Bool {
        !noColor && isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    }
}

/// One readable line per event: time, event id, room (short), seq, KIND, actor, subject and a summary.
struct EventFormat {
    let color: Bool

    private static let reset = "\u{1B}[0m"

    /// The ANSI colour of a kind: its family (room, participant, message, …), red for removals and denials.
    private static func colour(_ kind: Smrt_Chat_V1_EventKind) -> String {
        switch kind {
        case .messageDeleted, .roomDeleted, .participantKicked, .participantBanned, .toolCallDenied,
             .sessionExpired:
            return "\u{1B}[1;31m"
        case .messageCreated: return "\u{1B}[1;32m"
        case .messageEdited: return "\u{1B}[32m"
        case .roomCreated, .roomUpdated, .roomArchived, .roomUnarchived: return "\u{1B}[1;34m"
        case .participantJoined, .participantLeft, .participantUnbanned, .participantRoleChanged,
             .participantRead:
            return "\u{1B}[36m"
        case .reactionAdded, .reactionRemoved: return "\u{1B}[35m"
        case .threadStarted, .threadResolved, .threadReopened: return "\u{1B}[33m"
        case .sessionCreated, .sessionUpdated, .sessionClosed: return "\u{1B}[1;33m"
        default: return ""
        }
    }

    /// Widest kind name (PARTICIPANT_ROLE_CHANGED), so the columns after it line up.
    private static let kindWidth = 24

    func line(_ event: Smrt_Chat_V1_RoomEvent) -> String {
        let kindName = Output.name(event.kind)
        let padding = String(repeating: " ", count: max(0, Self.kindWidth - kindName.count))
        let kind = (color ? Self.colour(event.kind) + kindName + Self.reset : kindName) + padding
        // The room itself as subject (ROOM_* kinds) is already in the room column.
        let subject = event.subjectID.isEmpty ? "-"
            : event.subjectID == event.roomID ? Output.short(event.subjectID) : event.subjectID
        var parts = [
            Output.time(event.createdAt, short: true), "#\(event.eventID)", Output.short(event.roomID),
            "seq=\(event.seq)", kind, event.actorProfileID.isEmpty ? "-" : event.actorProfileID, subject,
        ]
        let summary = Self.summary(event)
        if !summary.isEmpty { parts.append(summary) }
        return parts.joined(separator: " ")
    }

    /// A short description of the event's entity (absent in the "ids" payload mode).
    static func summary(_ event: Smrt_Chat_V1_RoomEvent) -> String {
        switch event.entity {
        case .message(let m)?:
            if m.hasDeletedAt || event.kind == .messageDeleted { return "(deleted)" }
            let thread = m.threadID.isEmpty ? "" : "[thread \(Output.short(m.threadID))] "
            return thread + "\"" + Output.truncate(m.content, 60) + "\""
        case .room(let r)?:
            return "\"\(Output.truncate(r.name, 40))\" \(Output.name(r.roomType)) \(Output.name(r.status))"
        case .participant(let p)?:
            let who = p.profileID == event.subjectID ? "" : p.profileID + " "
            return "\(who)\(Output.name(p.role)) \(Output.name(p.status))"
        case .reaction(let r)?:
            return "\(r.emoji) on \(r.messageID)"
        case .thread(let t)?:
            return (t.title.isEmpty ? "" : "\"\(Output.truncate(t.title, 40))\" ") + "root \(t.rootMessageID)"
        case .session(let s)?:
            return "agent \(s.agentID) \(Output.name(s.status))"
        case .toolCallDenied(let d)?:
            return "tool \(d.toolName) denied (call \(d.callID))"
        case .toolCallApproval(let a)?:
            let by = a.hasDecidedByProfileID ? " by \(a.decidedByProfileID)" : ""
            return "tool \(a.toolName) call \(a.callID) \(Output.name(a.approvalState))\(by)"
        case .messagesPurged(let p)?:
            return "\(p.count) messages before \(Output.time(p.purgedBeforeMs)) purged"
        case .profileErased(let p)?:
            return "\(p.profileID): \(p.messagesErased) messages erased"
        case nil:
            return ""
        }
    }
}

/// Follows a room's or the tenant's events live.
struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a room's or the whole tenant's events live, one line each.",
        discussion: """
            Without --after-seq / --after-event-id it starts at the current head (only new events); with them it \
            first replays the durable log from there. Delivery is in order, with no gaps and no duplicates \
            (missed live events are fetched from the log). The tenant feed needs a key with the events scope.
            Line: TIME #EVENT_ID ROOM seq=SEQ KIND ACTOR SUBJECT SUMMARY. --json prints each event as one JSON line.
            A streamed agent reply (SPEC §13) is followed as it grows: on a terminal its line is rewritten in \
            place, otherwise each delta is a line '  +MESSAGE #INDEX "TEXT"' (--no-streams: only the events).
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var color: ColorOptions
    @Option(help: "Follow this room (default: every room of the tenant).") var room: String?
    @Option(help: "With --room: start after this seq (0: from the room's first event).") var afterSeq: Int64?
    @Option(help: "Without --room: start after this event id (0: from the oldest retained event).")
    var afterEventId: Int64?
    @Option(help: "Exit after this many events.") var count: Int?
    @Flag(help: "Do not follow streamed replies' deltas (only their events).") var noStreams = false

    func validate() throws {
        if afterSeq != nil && room == nil { throw ValidationError("--after-seq needs --room") }
        if afterEventId != nil && room != nil {
            throw ValidationError("--after-event-id is for the tenant feed; use --after-seq with --room")
        }
        if let count, count <= 0 { throw ValidationError("--count must be positive") }
    }

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let scope: EventScope
        if let room {
            var after = afterSeq
            if after == nil {
                after = try await client.listRoomEvents(.with {
                    $0.roomID = room
                    $0.afterSeq = 0
                    $0.limit = 1
                }).headSeq
            }
            scope = .room(room, afterSeq: after ?? 0)
        } else {
            var after = afterEventId
            if after == nil {
                after = try await client.listTenantEvents(.with {
                    $0.afterEventID = 0
                    $0.limit = 1
                }).headEventID
            }
            scope = .tenant(afterEventId: after ?? 0)
        }
        let format = EventFormat(color: color.enabled)
        let printer = StreamPrinter(inPlace: isatty(STDOUT_FILENO) != 0)
        let follow = !noStreams && !global.json
        try await withThrowingTaskGroup(of: Void.self) { group in
            var seen = 0
            for try await event in client.events(scope) {
                if global.json {
                    try Output.json(event)
                } else {
                    printer.line(format.line(event))
                }
                if follow, event.kind == .messageCreated, event.message.streamState == .streaming {
                    let message = event.message
                    printer.started()
                    group.addTask {
                        for try await delta in client.replyStream(messageId: message.id, roomId: message.roomID) {
                            printer.delta(delta)
                        }
                        printer.finished(message.id)
                    }
                }
                seen += 1
                if let count, seen >= count { break }
            }
            // With --count: the replies that streamed may still be delivering their last deltas; give them a moment.
            group.addTask { try await Task.sleep(for: .seconds(2)) }
            while printer.streaming > 0, (try? await group.next()) != nil {}
            group.cancelAll()
        }
    }
}

/// Prints event lines and the deltas of streaming replies: on a terminal the reply's line grows in place
/// (until another line is printed, after which it starts again below with the content so far).
final class StreamPrinter: @unchecked Sendable {
    // @unchecked Sendable: every field is touched with `lock` held.
    private let lock = NSLock()
    private let inPlace: Bool
    private var contents: [String: String] = [:]
    /// The message whose line is the last, unfinished line of the terminal.
    private var live: String?
    private var running = 0

    /// Streams followed and not finished yet.
    var streaming: Int { lock.withLock { running } }

    func started() { lock.withLock { running += 1 } }

    init(inPlace: Bool) { self.inPlace = inPlace }

    func line(_ text: String) {
        lock.withLock {
            if live != nil { Output.write("\n") }
            live = nil
            Output.line(text)
        }
    }

    func delta(_ delta: Smrt_Chat_V1_ReplyDelta) {
        lock.withLock {
            let id = delta.messageID
            let content = (contents[id] ?? "") + delta.text
            contents[id] = content
            guard inPlace else {
                Output.line("  +\(Output.short(id)) #\(delta.index) \"\(delta.text)\"")
                return
            }
            if live != nil && live != id { Output.write("\n") }
            live = id
            let shown = content.replacingOccurrences(of: "\n", with: " ")
            Output.write("\r\u{1B}[K  \(Output.short(id)) ▸ \(shown.count > 100 ? "…" + shown.suffix(99) : shown)")
        }
    }

    func finished(_ messageId: String) {
        lock.withLock {
            running -= 1
            if live == messageId {
                Output.write("\n")
                live = nil
            }
            contents[messageId] = nil
        }
    }
}
