import ChatAPI
import Foundation
import Nanomsg
import Synchronization

extension ChatClient {
    /// The deltas of a streamed agent reply (SPEC §13.1) in index order from `fromIndex`, with no loss and no
    /// duplicate, ending when the reply has finished and every delta was delivered: their texts joined are the
    /// message's final content (GetMessage).
    ///
    /// It subscribes to the reply's stream topic and its room's event topic first, then fills from the stored
    /// deltas (ListReplyDeltas), then follows the live deltas; a gap, a quiet feed (`idleCatchUpMs`) or the
    /// reply's MESSAGE_STREAM_FINISHED event makes it read the stored deltas again. When the stored deltas were
    /// already dropped (RESYNC_REQUIRED), the rest of the final content arrives as one last delta.
    public func replyStream(
        messageId: String, roomId: String, fromIndex: Int64 = 0, idleCatchUpMs: Int = 1000
    ) -> AsyncThrowingStream<Smrt_Chat_V1_ReplyDelta, Error> {
        AsyncThrowingStream { continuation in
            let follower = ReplyFollower(client: self, messageId: messageId, roomId: roomId, fromIndex: fromIndex,
                                         idleCatchUpMs: idleCatchUpMs) {
                continuation.yield($0)
            } finish: {
                continuation.finish(throwing: $0)
            }
            continuation.onTermination = { _ in follower.cancel() }
            follower.start()
        }
    }
}

/// The thread behind a reply stream.
final class ReplyFollower: @unchecked Sendable {
    // @unchecked Sendable: all mutable state is confined to the follower thread; `cancelled` is atomic.
    private let client: ChatClient
    private let messageId: String
    private let roomId: String
    private let idleCatchUpMs: Int
    private let deliver: (Smrt_Chat_V1_ReplyDelta) -> Void
    private let finish: (Error?) -> Void
    private let cancelled = Atomic<Bool>(false)
    /// The next index to deliver.
    private var next: Int64
    /// Content bytes delivered so far (for the RESYNC_REQUIRED fallback).
    private var deliveredBytes: Int64 = 0
    /// Set once the reply is known to be finished.
    private var finished = false

    init(client: ChatClient, messageId: String, roomId: String, fromIndex: Int64, idleCatchUpMs: Int,
         deliver: @escaping (Smrt_Chat_V1_ReplyDelta) -> Void, finish: @escaping (Error?) -> Void) {
        self.client = client
        self.messageId = messageId
        self.roomId = roomId
        self.next = max(0, fromIndex)
        self.idleCatchUpMs = idleCatchUpMs
        self.deliver = deliver
        self.finish = finish
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "smrt.chat.reply"
        thread.start()
    }

    func cancel() { cancelled.store(true, ordering: .relaxed) }

    private var streamTopic: String {
        "smrt.chat.v1.stream/\(client.configuration.tenantId)/\(roomId)/\(messageId)/"
    }

    private var roomTopic: String { "smrt.chat.v1/\(client.configuration.tenantId)/\(roomId)/" }

    private func run() {
        do {
            let socket = try client.subscriber(to: [streamTopic, roomTopic])
            defer { socket.close() }
            if try catchUp() { return finish(nil) }
            var quietSince = Date()
            while !cancelled.load(ordering: .relaxed) {
                guard let bytes = try socket.receiveLive() else {
                    if Date().timeIntervalSince(quietSince) * 1000 >= Double(idleCatchUpMs) {
                        if try catchUp() { return finish(nil) }
                        quietSince = Date()
                    }
                    continue
                }
                quietSince = Date()
                guard let zero = bytes.firstIndex(of: 0) else { continue }
                let topic = String(decoding: bytes[..<zero], as: UTF8.self)
                let body = Array(bytes[(zero + 1)...])
                if topic == streamTopic {
                    guard let delta = try? Smrt_Chat_V1_ReplyDelta(serializedBytes: body) else { continue }
                    if delta.index < next { continue }
                    if delta.index == next {
                        emit(delta)
                    } else if try catchUp() {
                        return finish(nil)
                    }
                } else if let event = try? Smrt_Chat_V1_RoomEvent(serializedBytes: body),
                          event.kind == .messageStreamFinished, event.subjectID == messageId {
                    finished = true
                    if try catchUp() { return finish(nil) }
                }
            }
            finish(nil)
        } catch {
            finish(error)
        }
    }

    private func emit(_ delta: Smrt_Chat_V1_ReplyDelta) {
        next = delta.index + 1
        deliveredBytes = delta.contentLength
        deliver(delta)
    }

    /// Reads the stored deltas from `next` on; true when the reply finished and everything was delivered.
    private func catchUp() throws -> Bool {
        while !cancelled.load(ordering: .relaxed) {
            let page: Smrt_Chat_V1_ListReplyDeltasResponse
            do {
                page = try client.callBlocking("ListReplyDeltas", Smrt_Chat_V1_ListReplyDeltasRequest.with {
                    $0.messageID = messageId
                    $0.fromIndex = next
                    $0.limit = 2000
                })
            } catch let error as RPCError where error.reason == "RESYNC_REQUIRED" {
                try deliverRemainder()
                return true
            }
            for delta in page.deltas where delta.index == next { emit(delta) }
            if page.streamState != .streaming { finished = true }
            if page.hasMore_p { continue }
            return finished && next >= page.deltaCount
        }
        return false
    }

    /// The stored deltas are gone: the rest of the final content, after what was delivered, as one delta.
    private func deliverRemainder() throws {
        let reply: Smrt_Chat_V1_GetMessageResponse = try client.callBlocking(
            "GetMessage", Smrt_Chat_V1_GetMessageRequest.with { $0.messageID = messageId })
        let content = Array(reply.message.content.utf8)
        guard Int64(content.count) > deliveredBytes else { return }
        emit(Smrt_Chat_V1_ReplyDelta.with {
            $0.messageID = messageId
            $0.index = max(next, reply.message.deltaCount - 1)
            $0.text = String(decoding: content[Int(deliveredBytes)...], as: UTF8.self)
            $0.contentLength = Int64(content.count)
        })
    }
}
