import ChatAPI
import Foundation
import Nanomsg
import Synchronization

/// What an event subscription follows, and from where.
public enum EventScope: Sendable, Equatable {
    /// One room, after a seq (0: from its start).
    case room(String, afterSeq: Int64)
    /// A whole tenant (the client's), after an event id (needs the `events` scope).
    case tenant(afterEventId: Int64)
}

extension ChatClient {
    /// Events of a room or of the client's tenant, in log order, with no gaps and no duplicates.
    ///
    /// The subscriber listens on every configured PUB endpoint, first catches up through the durable log
    /// (ListRoomEvents / ListTenantEvents), then follows the live feed; when it sees a seq jump, or the
    /// feed stays quiet for `idleCatchUpMs`, it catches up again. Events already delivered are skipped.
    public func events(_ scope: EventScope, idleCatchUpMs: Int = 1000) -> AsyncThrowingStream<Smrt_Chat_V1_RoomEvent, Error> {
        AsyncThrowingStream { continuation in
            let follower = EventFollower(client: self, scope: scope, idleCatchUpMs: idleCatchUpMs) {
                continuation.yield($0)
            } finish: {
                continuation.finish(throwing: $0)
            }
            continuation.onTermination = { _ in follower.cancel() }
            follower.start()
        }
    }
}

extension ChatClient {
    /// A SUB socket on every configured PUB endpoint, subscribed to `topics`, whose receives time out after 100 ms
    /// (so followers notice cancellation and quiet feeds).
    func subscriber(to topics: [String]) throws -> NanoSocket {
        let socket = try NanoSocket(.sub)
        do {
            try socket.setReceiveBufferSize(4 << 20)
            try socket.setReceiveMaxSize(configuration.maxReceiveBytes)
            try socket.setReceiveTimeout(milliseconds: 100)
            for topic in topics { try socket.subscribe(Array(topic.utf8)) }
            for endpoint in configuration.eventsEndpoints { _ = try socket.connect(endpoint) }
        } catch {
            socket.close()
            throw error
        }
        return socket
    }
}

extension NanoSocket {
    /// The next live message, or nil after the receive timeout.
    func receiveLive() throws -> [UInt8]? {
        let result: Result<[UInt8], NanomsgError> = Result { () throws(NanomsgError) in try receive() }
        switch result {
        case .success(let bytes): return bytes
        case .failure(let error) where error.isTimeout: return nil
        case .failure(let error): throw error
        }
    }
}

/// The thread behind an event subscription.
final class EventFollower: @unchecked Sendable {
    // @unchecked Sendable: all mutable state is confined to the follower thread; `cancelled` is atomic.
    private let client: ChatClient
    private let scope: EventScope
    private let idleCatchUpMs: Int
    private let deliver: (Smrt_Chat_V1_RoomEvent) -> Void
    private let finish: (Error?) -> Void
    private let cancelled = Atomic<Bool>(false)
    private var lastSeq: [String: Int64] = [:]
    /// Tenant scope: the log position up to which every event has been delivered (only catch-up moves it,
    /// because instances publish independently and live events of different rooms may arrive out of
    /// event_id order).
    private var confirmedEventId: Int64 = 0
    /// Tenant scope: events at or below this position precede the subscription.
    private var startEventId: Int64 = 0

    init(client: ChatClient, scope: EventScope, idleCatchUpMs: Int,
         deliver: @escaping (Smrt_Chat_V1_RoomEvent) -> Void, finish: @escaping (Error?) -> Void) {
        self.client = client
        self.scope = scope
        self.idleCatchUpMs = idleCatchUpMs
        self.deliver = deliver
        self.finish = finish
        switch scope {
        case .room(let room, let after): lastSeq[room] = after
        case .tenant(let after):
            confirmedEventId = after
            startEventId = after
        }
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "smrt.chat.events"
        thread.start()
    }

    func cancel() { cancelled.store(true, ordering: .relaxed) }

    private var topic: String {
        switch scope {
        case .room(let room, _): return "smrt.chat.v1/\(client.configuration.tenantId)/\(room)/"
        case .tenant: return "smrt.chat.v1/\(client.configuration.tenantId)/"
        }
    }

    private func run() {
        do {
            let socket = try client.subscriber(to: [topic])
            defer { socket.close() }
            try catchUp()
            var quietSince = Date()
            while !cancelled.load(ordering: .relaxed) {
                guard let bytes = try socket.receiveLive() else {
                    if Date().timeIntervalSince(quietSince) * 1000 >= Double(idleCatchUpMs) {
                        try catchUp()
                        quietSince = Date()
                    }
                    continue
                }
                quietSince = Date()
                guard let zero = bytes.firstIndex(of: 0),
                      let event = try? Smrt_Chat_V1_RoomEvent(serializedBytes: Array(bytes[(zero + 1)...])) else { continue }
                try offer(event)
            }
            finish(nil)
        } catch {
            finish(error)
        }
    }


    /// Delivers a live event in its room's order (duplicates dropped by per-room seq), or catches up when it
    /// reveals a gap.
    private func offer(_ event: Smrt_Chat_V1_RoomEvent) throws {
        if case .tenant = scope, event.eventID <= startEventId { return }
        let known = lastSeq[event.roomID]
        if let known, event.seq <= known { return }
        if let known, event.seq == known + 1 {
            emit(event)
        } else if known == nil, event.seq == 1 {
            emit(event)
        } else {
            try catchUp()
        }
    }

    private func emit(_ event: Smrt_Chat_V1_RoomEvent) {
        lastSeq[event.roomID] = event.seq
        deliver(event)
    }

    /// Reads the durable log from the last delivered position to its head.
    private func catchUp() throws {
        switch scope {
        case .room(let room, _):
            while !cancelled.load(ordering: .relaxed) {
                let page: Smrt_Chat_V1_ListRoomEventsResponse = try client.callBlocking(
                    "ListRoomEvents", Smrt_Chat_V1_ListRoomEventsRequest.with {
                        $0.roomID = room
                        $0.afterSeq = lastSeq[room] ?? 0
                        $0.limit = 200
                    })
                for event in page.events where event.seq > (lastSeq[room] ?? 0) { emit(event) }
                if !page.hasMore_p { return }
            }
        case .tenant:
            while !cancelled.load(ordering: .relaxed) {
                let page: Smrt_Chat_V1_ListTenantEventsResponse = try client.callBlocking(
                    "ListTenantEvents", Smrt_Chat_V1_ListTenantEventsRequest.with {
                        $0.afterEventID = confirmedEventId
                        $0.limit = 200
                    })
                for event in page.events {
                    confirmedEventId = max(confirmedEventId, event.eventID)
                    if event.seq > (lastSeq[event.roomID] ?? 0) { emit(event) }
                }
                if !page.hasMore_p { return }
            }
        }
    }
}
