import ChatAPI
import ChatCore
import Foundation
import Logging
import Nanomsg
import ServiceLifecycle

/// Publishes committed events on the PUB socket from its own thread, so the reply path never waits
/// on subscribers. Message: `topic` + 0x00 + serialized RoomEvent. Events arrive in commit order
/// from the single writer and leave in that order.
///
/// The thread publishes from `init` on, whether or not `run()` is called: events committed while the server
/// and the storage shut down are published as long as the publisher shuts down last (first in a
/// `ServiceGroup`'s list).
public final class EventPublisher: @unchecked Sendable, Service, CustomStringConvertible {
    // @unchecked Sendable: `queue` and `stopped` are only touched with `condition` locked; the socket
    // is used by the publisher thread only (and closed after it ends).
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

    private func enqueue(_ items: [Item]) {
        condition.lock()
        if !stopped {
            queue += items
            condition.signal()
        }
        condition.unlock()
    }

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
            condition.unlock()
            var events = 0
            for item in batch {
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
}
