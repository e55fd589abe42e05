/// What an item adds to a reply on the wire, at most: its variable-length fields' bytes plus a fixed
/// allowance for ids, numbers and protobuf framing. Pages stop adding items before the reply passes
/// `ChatLimits.maxReplyBytes` (README: limits), so every reply fits every client's receive limit.
public protocol ReplySized {
    var replyBytes: Int { get }
}

/// Ids, times, counters, enums and field tags of one entity, generously.
private let fixedAllowance = 1024

extension Message: ReplySized {
    public var replyBytes: Int {
        fixedAllowance + content.utf8.count + metadata.utf8.count
            + attachments.reduce(0) { $0 + 256 + $1.filename.utf8.count + $1.contentType.utf8.count + ($1.url?.utf8.count ?? 0) }
            + (toolCall.map { 256 + $0.name.utf8.count + ($0.arguments?.utf8.count ?? 0) + ($0.result?.utf8.count ?? 0) } ?? 0)
    }
}

extension Room: ReplySized {
    public var replyBytes: Int {
        fixedAllowance + name.utf8.count + description.utf8.count + topic.utf8.count + avatarUrl.utf8.count
            + metadata.utf8.count
    }
}

extension RoomView: ReplySized {
    public var replyBytes: Int { room.replyBytes + (participant?.replyBytes ?? 0) + (lastMessage?.replyBytes ?? 0) }
}

extension Participant: ReplySized {
    public var replyBytes: Int { fixedAllowance + nickname.utf8.count }
}

extension ChatThread: ReplySized {
    public var replyBytes: Int { fixedAllowance + title.utf8.count }
}

extension AgentSession: ReplySized {
    public var replyBytes: Int {
        fixedAllowance + systemPrompt.utf8.count + sessionContext.utf8.count
            + allowedTools.reduce(0) { $0 + 8 + $1.utf8.count }
    }
}

extension SessionView: ReplySized {
    public var replyBytes: Int { session.replyBytes }
}

extension ToolCallApproval: ReplySized {
    public var replyBytes: Int { fixedAllowance + toolName.utf8.count + (reason?.utf8.count ?? 0) }
}

extension ReplyDelta: ReplySized {
    public var replyBytes: Int { 64 + text.utf8.count }
}

extension MessageVersion: ReplySized {
    public var replyBytes: Int { fixedAllowance + content.utf8.count }
}

extension RoomEvent: ReplySized {
    public var replyBytes: Int {
        switch entity {
        case .room(let room)?: fixedAllowance + room.replyBytes
        case .participant(let participant)?: fixedAllowance + participant.replyBytes
        case .message(let message)?: fixedAllowance + message.replyBytes
        case .thread(let thread)?: fixedAllowance + thread.replyBytes
        case .session(let session)?: fixedAllowance + session.replyBytes
        case .reaction?, .toolCallDenied?, .toolCallApproval?, .messagesPurged?, .profileErased?, nil:
            2 * fixedAllowance
        }
    }
}

extension ChatLimits {
    /// How many of `items`, from the first, fit in one reply (at least one, at most `limit`).
    func fitting<T: ReplySized>(_ items: some Collection<T>, limit: Int) -> Int {
        var total = 0
        var count = 0
        for item in items.prefix(limit) {
            total += item.replyBytes
            if count > 0 && total > maxReplyBytes { break }
            count += 1
        }
        return count
    }
}
