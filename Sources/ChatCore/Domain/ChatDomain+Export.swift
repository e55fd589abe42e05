import Foundation

/// A started export.
public struct ExportStarted: Sendable, Equatable {
    public var exportId: String
    public var expiresAt: Int64
    public var lines: Int
    public var bytes: Int
}

/// A page of an export's NDJSON lines.
public struct ExportChunk: Sendable, Equatable {
    public var data: String
    public var nextCursor: String
    public var hasMore: Bool
}

/// Exports (SPEC §14): a consistent snapshot of a tenant, a room or a profile's data as NDJSON lines, kept in
/// chunks of whole lines (up to 1 MiB each) for `ChatLimits.exportTtlSeconds`.
extension ChatDomain {
    /// Bytes of lines per chunk (a page of ExportPage); a single longer line makes a chunk of its own.
    static let exportChunkBytes = 1 << 20

    /// Takes the snapshot in this transaction (`admin`): the header line from `header`, then every entity of the
    /// scope in ExportKind's order, each line from `line`.
    public func startExport(
        _ tx: any ChatTransaction, _ actor: CallActor, scope: ExportScope, subject: String?,
        header: (ExportRecord) -> String, line: (ExportRow) throws -> String
    ) throws -> ExportStarted {
        try actor.require(.admin)
        var filter = ExportFilter(tenantId: actor.tenantId)
        switch scope {
        case .tenant:
            break
        case .room:
            let roomId = subject ?? ""
            try Validate.reference(roomId, "room_id")
            guard let room = try tx.room(tenantId: actor.tenantId, id: roomId), room.status != .deleted else {
                throw ChatError.notFound("room")
            }
            filter.roomId = roomId
        case .profile:
            try Validate.identifier(subject ?? "", "profile_id")
            filter.profileId = subject
        }
        let now = clock()
        let record = ExportRecord(exportId: Identifiers.newUUID(), tenantId: actor.tenantId, scope: scope,
                                  subject: subject ?? actor.tenantId, createdAt: now,
                                  expiresAt: now + limits.exportTtlSeconds * 1000)
        try tx.createExport(record)
        var chunk = ""
        var chunks = 0, bytes = 0, lines = 0
        func add(_ text: String) throws {
            let size = text.utf8.count + 1
            if !chunk.isEmpty && chunk.utf8.count + size > Self.exportChunkBytes {
                try tx.appendExportChunk(exportId: record.exportId, index: chunks, data: chunk)
                chunks += 1
                chunk = ""
            }
            chunk += text
            chunk += "\n"
            bytes += size
            lines += 1
        }
        try add(header(record))
        for kind in ExportKind.allCases {
            var after = ExportPosition()
            while true {
                let rows = try tx.exportPage(kind, scope: filter, after: after, limit: 1000)
                for row in rows { try add(try line(row)) }
                guard rows.count == 1000, let last = rows.last else { break }
                after = last.position
            }
        }
        try tx.appendExportChunk(exportId: record.exportId, index: chunks, data: chunk)
        chunks += 1
        try tx.finishExport(exportId: record.exportId, chunks: chunks, bytes: bytes)
        try tx.appendAudit(AuditEntry(at: now, actor: actor.auditName, action: .exportCreate, tenantId: actor.tenantId,
                                      subject: subject,
                                      detail: AuditEntry.detail(["scope": scope.rawValue, "lines": lines, "bytes": bytes])))
        return ExportStarted(exportId: record.exportId, expiresAt: record.expiresAt, lines: lines, bytes: bytes)
    }

    /// One chunk of an export (`admin`): unknown or expired → NOT_FOUND (resource `export`).
    public func exportPage(_ tx: any ChatTransaction, _ actor: CallActor, exportId: String, cursor: String) throws
        -> ExportChunk {
        try actor.require(.admin)
        try Validate.reference(exportId, "export_id")
        let index: Int
        if cursor.isEmpty {
            index = 0
        } else {
            guard let n = Int(cursor), n > 0 else { throw ChatError.validation("cursor", "is not a cursor of this export") }
            index = n
        }
        guard let found = try tx.exportChunk(tenantId: actor.tenantId, exportId: exportId, index: index, now: clock())
        else { throw ChatError.notFound("export") }
        guard let data = found.data else { throw ChatError.validation("cursor", "is past the end of this export") }
        let more = index + 1 < found.chunks
        return ExportChunk(data: data, nextCursor: more ? String(index + 1) : "", hasMore: more)
    }
}

/// Import (`smrt-chatd import`): an export's entities recreated as they were, into an empty database.
extension ChatDomain {
    /// The order an import writes entities in: each after what it refers to (threads before their root messages are
    /// written without their root, set by `setThreadRoots` afterwards).
    public static let importOrder: [ExportKind] = [.room, .participant, .session, .thread, .message, .reaction, .toolCall,
                                                   .turnState]

    /// Writes one exported entity with its ids, times and counters as exported.
    public func importRow(_ tx: any ChatTransaction, _ row: ExportRow) throws {
        switch row {
        case .room(let room):
            _ = try tx.insertRoomIfAbsent(room)
        case .participant(let participant):
            try tx.upsertParticipant(participant)
        case .thread(var thread):
            thread.rootMessageId = nil
            try tx.insertThread(thread)
        case .message(let message, let versions):
            try tx.insertMessage(message)
            for version in versions { try tx.insertMessageVersion(tenantId: message.tenantId, version) }
            if let threadId = message.threadId {
                _ = try tx.addThreadSender(tenantId: message.tenantId, threadId: threadId, profileId: message.senderProfileId)
            }
        case .reaction(let reaction, _):
            try tx.insertReaction(reaction)
        case .session(let session):
            try tx.insertSession(session)
        case .toolCall(let call, _, _):
            try tx.insertToolCall(call)
        case .turnState(let state):
            try tx.upsertTurnState(state)
        }
    }

    /// Sets the root messages of imported threads, once their messages are written.
    public func setThreadRoots(_ tx: any ChatTransaction, _ threads: [ChatThread]) throws {
        for thread in threads {
            if let root = thread.rootMessageId { try tx.setThreadRoot(tenantId: thread.tenantId, threadId: thread.id, rootMessageId: root) }
        }
    }

    /// Ends an import of a tenant: each room's log starts with one ROOM_IMPORTED whose seq follows the highest
    /// room_seq of its messages (the retained start of its log), and the counters' purged parts are recorded.
    public func finishImport(_ tx: any ChatTransaction, tenantId: String, roomSeqs: [String: Int64]) throws {
        try tx.finishImport(tenantId: tenantId, roomSeqs: roomSeqs)
        let now = clock()
        for room in roomSeqs.keys.sorted() {
            try emit(tx, .roomImported, tenantId: tenantId, roomId: room, actor: "", subject: room, at: now, entity: nil)
        }
    }
}
