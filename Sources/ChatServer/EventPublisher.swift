import ChatAPI
import ChatCore
import Foundation
import Logging
import Nanomsg
import ServiceLifecycle

/// Publishes committed events on the PUB socket, a commit's few events from the committing thread when nothing is queued
/// before them, larger batches from its own thread so a busy writer never waits on subscribers. Message: `topic` + 0x00 + serialized RoomEvent. Events arrive in commit order
/// from the single writer and leave in that order.
///
/// The thread publishes from `init` on, whether or not `run()` is called: events committed while the server
/// and the storage shut down are published as long as the publisher shuts down last (first in a
/// `ServiceGroup`'s list).
public final class EventPublisher: @unchecked Sendable, Service, CustomStringConvertible {
    // @unchecked Sendable: `queue`, `sending` and `stopped` are only touched with `condition` locked; the socket sends
    // from the publisher thread, or from a committing thread holding `condition` while the publisher thread is idle
    // (and is closed after it ends).
    private let socket: NanoSocket
    private let includeEntities: Bool
    private let logger: Logger
    private let condition = NSCondition()
    /// What leaves next: a room event, or a reply delta on its stream topic.
    private enum Item {
        case event(RoomEvent)
        case delta(ReplyDelta)
    }
    private var queue: [Item] = []
    /// The publishing thread is sending a batch it took from `queue`.
    private var sending = false
    private var stopped = false
    private var finished = false

    /// Binds the PUB socket of `configuration` and starts the publishing thread.
    public convenience init(_ configuration: ServerConfiguration, logger: Logger) throws {
        try self.init(endpoint: configuration.eventsEndpoint, bufferBytes: configuration.publishBufferBytes,
                      includeEntities: configuration.payloadMode == .full, logger: logger)
    }

    init(endpoint: String, bufferBytes: Int, includeEntities: Bool, logger: Logger) throws {
        socket = try NanoSocket(.pub)
        try socket.setSendBufferSize(bufferBytes)
        try socket.setLinger(milliseconds: 100)
        _ = try socket.bind(endpoint)
        self.includeEntities = includeEntities
        self.logger = logger
        let thread = Thread { [self] in loop() }
        thread.name = "smrt.chat.publisher"
        thread.start()
    }

    /// Queues events for publishing; never blocks on the network.
    public func publish(_ events: [RoomEvent]) {
        enqueue(events.map(Item.event))
    }

    /// Queues reply deltas for publishing on their stream topics (SPEC §13.1).
    public func publish(_ deltas: [ReplyDelta]) {
        enqueue(deltas.map(Item.delta))
    }

    /// A few items with nothing queued before them leave from the caller's thread (the commit's), under the lock, so
    /// the publishing thread cannot send a later batch first: a thread wake-up less between a commit and its
    /// subscribers. Larger batches go to the publishing thread, so a busy writer does not pay for them.
    private func enqueue(_ items: [Item]) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return }
        if queue.isEmpty && !sending && items.count <= Self.inlineItems {
            send(items)
            return
        }
        queue += items
        condition.signal()
    }

    private static let inlineItems = 4

    public var description: String { "publisher" }

    /// Subscribers connected now (nanomsg's statistic of the PUB socket; nil once it is closed).
    public var connections: UInt64? { socket.statistic(.currentConnections) }

    /// Waits for graceful shutdown (or cancellation), then stops as `stop()` does.
    public func run() async {
        try? await gracefulShutdown()
        await onDedicatedThread("smrt.chat.publisher.stop") { [self] in stop() }
    }

    /// Publishes what is queued, then closes the socket. Blocks until then.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
        socket.close()
    }

    /// The bytes of one published event.
    static func frame(_ event: RoomEvent, includeEntities: Bool) -> [UInt8] {
        var bytes = Array(event.topic.utf8)
        bytes.append(0)
        let body: [UInt8] = (try? event.wire(includeEntity: includeEntities, now: event.createdAt).serializedBytes()) ?? []
        bytes += body
        return bytes
    }

    /// The bytes of one published reply delta: its stream topic, 0x00, the serialized `ReplyDelta`.
    static func frame(_ delta: ReplyDelta) -> [UInt8] {
        var bytes = Array(delta.topic.utf8)
        bytes.append(0)
        bytes += (try? delta.wire.serializedBytes()) ?? []
        return bytes
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            sending = true
            condition.unlock()
            send(batch)
            condition.lock()
            sending = false
            condition.unlock()
        }
    }

    private func send(_ items: [Item]) {
        var events = 0
        for item in items {
            let frame: [UInt8]
            switch item {
            case .event(let event):
                events += 1
                frame = Self.frame(event, includeEntities: includeEntities)
            case .delta(let delta):
                frame = Self.frame(delta)
            }
            do {
                try socket.send(frame, dontWait: true)
            } catch {
                // A PUB socket drops what it cannot send; consumers recover through the log.
                logger.debug("event not published", metadata: ["error": "\(error)"])
            }
        }
        ServerMetrics.eventsPublished.increment(by: Int64(events))
    }
}
