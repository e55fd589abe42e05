import ChatAPI
import ChatCore
import Foundation
import Synchronization

/// Encoded ListRoomMessages pages, each kept with the room's log position (`Room.lastEventSeq`) it was read at.
///
/// A page is served again only to a call that passed the access rule in its own snapshot and found the room at the
/// same position there: every change a page shows appends a room event (send, edit, delete, reaction, thread and
/// stream state, purge, erasure), which moves the position, on whichever instance made it. The one exception, the
/// content of a reply still streaming (its deltas append no event), is never cached. So nothing here can be stale,
/// and a second instance needs none of it: this is a cache of work, not of state.
///
/// Clients opening a room page its latest messages; with many readers of one room the same pages are read over and
/// over (16 readers paging a 6,000-message room: 3,500 pages/s read and encoded, the server at 1.5 cores). Bounded
/// by `maxBytes`; the oldest entries leave first.
final class HistoryCache: Sendable {
    struct Key: Hashable, Sendable {
        let tenantId: String
        let roomId: String
        /// The request's payload: cursor, anchors, limit and flags, as the caller encoded them.
        let request: Data
    }

    private struct Entry {
        let seq: Int64
        let payload: Data
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Insertion order, for eviction (a key may appear again after it was replaced; stale positions are skipped).
        var order: [Key] = []
        var head = 0
        var bytes = 0
    }

    private let state = Mutex(State())
    let maxBytes: Int

    init(maxBytes: Int = 16 << 20) { self.maxBytes = maxBytes }

    /// The page stored for `key` and the room position it was read at.
    private func entry(_ key: Key) -> Entry? {
        state.withLock { $0.entries[key] }
    }

    func store(_ key: Key, at seq: Int64, _ payload: Data) {
        let size = payload.count + key.request.count + key.roomId.utf8.count + key.tenantId.utf8.count + 64
        guard size <= maxBytes / 8 else { return }
        state.withLock { state in
            if let old = state.entries.updateValue(Entry(seq: seq, payload: payload), forKey: key) {
                state.bytes -= old.payload.count
            } else {
                state.order.append(key)
                state.bytes += size - payload.count
            }
            state.bytes += payload.count
            while state.bytes > maxBytes, state.head < state.order.count {
                let oldest = state.order[state.head]
                state.head += 1
                if let gone = state.entries.removeValue(forKey: oldest) {
                    state.bytes -= gone.payload.count + oldest.request.count + oldest.roomId.utf8.count
                        + oldest.tenantId.utf8.count + 64
                }
            }
            if state.head > 1024 && state.head * 2 > state.order.count {
                state.order.removeFirst(state.head)
                state.head = 0
            }
        }
    }

    /// `ListRoomMessages` served through this cache. A stored page answers only the same payload from the same tenant
    /// for the same room, which passed every check of the operation when it was stored; the access rule is checked again
    /// and the room's position must be the one stored. Otherwise `plain` runs (its checks in their order) and its page is
    /// stored with the position read in the same snapshot, unless it shows a reply still streaming.
    func wrap(_ plain: MethodSpec) -> MethodSpec {
        MethodSpec(name: plain.name, mutates: false, scopes: plain.scopes) { [self] payload in
            let call = try plain.prepare(payload)
            // The request's room, which the plain method names (decoded once, by it).
            guard let roomId = call.roomId else { return call }
            return PreparedCall(run: { domain, tx, actor in
                let key = Key(tenantId: actor.tenantId, roomId: roomId, request: payload)
                if let stored = self.entry(key), try domain.historyRoom(tx, actor, roomId: roomId).lastEventSeq == stored.seq {
                    return .value(stored.payload)
                }
                let result = try call.run(domain, tx, actor)
                if case .value(let page) = result,
                   let response = try? Smrt_Chat_V1_ListRoomMessagesResponse(serializedBytes: page),
                   !response.messages.contains(where: { $0.streamState == .streaming }) {
                    self.store(key, at: try domain.historyRoom(tx, actor, roomId: roomId).lastEventSeq, page)
                }
                return result
            }, roomId: call.roomId)
        }
    }
}
