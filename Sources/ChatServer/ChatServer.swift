import ChatAPI
import ChatCore
import Foundation
import Logging
import Nanomsg
import ServiceLifecycle
import Synchronization

/// The network service: a raw REP socket served by a pool of worker threads, over a storage and an event
/// publisher that its owner (smrt-chatd, the composition root) builds and closes. Its periodic jobs
/// (`periodicJobs`) are services of their own.
///
/// A raw (`AF_SP_RAW`) REP socket lets the workers handle calls concurrently (a cooked REP socket serves one
/// request at a time); one of them at a time waits in receive and the others take its place in turn; each reply is
/// routed back with the request's header. Workers use the storage's blocking entry points: no executor hop per call.
///
/// As a `Service`, `run()` serves until graceful shutdown, then stops as `stop()` does; in a
/// `ServiceGroup` the storage and the publisher must shut down after it (they come before it in the list).
public final class ChatServer: Service {
    public let configuration: ServerConfiguration
    private let storage: any ChatStorage
    private let handler: RequestHandler
    private let socket: NanoSocket
    private let domain: ChatDomain
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    /// Worker threads started; `stop()` waits for each to signal `done`.
    private let running = Atomic<Int>(0)
    /// Calls received and not yet answered (mutations are answered after their commit), bounded.
    private let inFlight: AdmissionLimit
    private let done = DispatchSemaphore(value: 0)
    /// Held by the one worker waiting in receive (leader/followers): nanomsg wakes every thread blocked in a receive
    /// on the socket for each message and all but one go back to sleep, 45 µs of CPU per call with 4 workers
    /// (measured on Health at 1 client). The others wait here and take over once the leader has its frame, or, for
    /// a lone caller's short read, once it answered it (see `serve`).
    private let receiving = NSLock()

    /// Binds the RPC sockets over `storage`, whose commit callback publishes the committed events (the owner
    /// wires it). Nothing is served before `run()`: clients that connect meanwhile are queued by the transport.
    ///
    /// - Throws: `NanomsgError` when an endpoint cannot be bound.
    public init(_ configuration: ServerConfiguration, storage: any ChatStorage,
                clock: @escaping @Sendable () -> Int64 = ChatDomain.systemClock,
                logger: Logger = Logger(label: "smrt.chat.server")) throws {
        self.configuration = configuration
        self.storage = storage
        self.logger = logger
        inFlight = AdmissionLimit(calls: configuration.maxCallsInFlight, bytes: configuration.maxBytesInFlight)
        domain = ChatDomain(limits: configuration.limits, clock: clock)
        handler = RequestHandler(configuration: configuration, storage: storage, domain: domain, logger: logger)
        do {
            socket = try NanoSocket(.rep, raw: true)
            try socket.setReceiveMaxSize(configuration.maxFrameBytes)
            try socket.setReceiveTimeout(milliseconds: 200)
            try socket.setSendTimeout(milliseconds: 1000)
            for endpoint in configuration.rpcEndpoints { _ = try socket.bind(endpoint) }
        } catch {
            handler.stop()
            throw error
        }
    }

    /// Starts the worker threads (dedicated: they block in receive), serves until graceful shutdown (or
    /// cancellation), then stops as `stop()` does.
    public func run() async {
        startWorkers()
        logger.info("serving", metadata: ["chat.rpc": "\(configuration.rpcEndpoints.joined(separator: ","))",
                                          "chat.events": "\(configuration.eventsEndpoint)"])
        try? await gracefulShutdown()
        await onDedicatedThread("smrt.chat.rpc.stop") { [self] in stop() }
    }

    private func startWorkers() {
        for i in 0..<max(1, configuration.workerThreads) {
            let thread = Thread { [self] in serve() }
            thread.name = "smrt.chat.rpc.\(i)"
            thread.stackSize = 1 << 20
            running.add(1, ordering: .relaxed)
            thread.start()
        }
    }

    private func serve() {
        defer { done.signal() }
        let socket = self.socket
        let inFlight = self.inFlight
        // Whether this thread holds `receiving`. A short read in a small frame that arrived while no other call was
        // queued or in flight is answered here before this thread receives again: handing the receive over wakes another worker,
        // which cost a lone caller a third of a Health call's time. A frame found already queued, another call in
        // flight, or longer work (`RequestHandler.handle`'s `beforeLongWork`: a write, which may commit here and wait,
        // or a page of an export or of events) hands it over first.
        var leading = false
        let handOver = {
            if leading {
                leading = false
                self.receiving.unlock()
            }
        }
        defer { handOver() }
        while !stopping.load(ordering: .acquiring) {
            if !leading {
                receiving.lock()
                leading = true
            }
            let message: NanoMessage
            let waited: Bool
            do {
                (message, waited) = try Self.receive(socket)
            } catch {
                if error.isTimeout { continue }
                if error.isClosed { return }
                logger.warning("receive failed", metadata: ["error": "\(error)"])
                continue
            }
            let header = message.header
            let logger = self.logger
            let body = message.body
            let send: @Sendable ([UInt8]) -> Void = { reply in
                do {
                    try socket.sendMessage(body: reply, header: header)
                } catch {
                    logger.debug("reply not sent (peer gone)", metadata: ["error": "\(error)"])
                }
            }
            guard let alone = inFlight.admitCall(bytes: body.count) else {
                handOver()
                ServerMetrics.shedOverloaded.increment()
                send(RequestHandler.overloaded(body))
                continue
            }
            if !(alone && waited && body.count <= Self.answeredWhileReceiving) { handOver() }
            handler.handle(body, alone: alone && waited, beforeLongWork: handOver) { reply in
                send(reply)
                inFlight.release(bytes: body.count)
            }
        }
    }

    /// The largest frame a worker answers before handing the receive over (when nothing else is queued or in flight):
    /// a bigger one costs more to decode, hash and check than a lone caller's hand-over saves, and a hostile one (a
    /// 1 MiB envelope, a deeply nested payload) would hold every other caller's frames meanwhile.
    static let answeredWhileReceiving = 4096

    /// The next frame, and whether none was queued (the receive waited for it).
    private static func receive(_ socket: NanoSocket) throws(NanomsgError) -> (NanoMessage, waited: Bool) {
        do {
            return (try socket.receiveMessage(dontWait: true), false)
        } catch where error.isTimeout {
            return (try socket.receiveMessage(), true)
        }
    }

    /// The server's periodic jobs (session expiry, retention) whose interval is not 0, as services for the
    /// owner's `ServiceGroup`, to shut down before the storage closes.
    public var periodicJobs: [PeriodicJob] {
        let jobs: [(String, Int64, @Sendable () async throws -> Void)] = [
            ("session-expiry", configuration.sessionExpiryIntervalSeconds, { [self] in try await expireSessions() }),
            ("retention", configuration.retentionIntervalSeconds, { [self] in try await purge() }),
            ("agent-streams", configuration.streamJobIntervalSeconds, { [self] in try await runStreamJob() }),
        ]
        return jobs.filter { $0.1 > 0 }.map { name, interval, body in
            PeriodicJob(name: name, interval: .seconds(interval), logger: logger, body: body)
        }
    }

    /// Expires stale sessions in every tenant that has status-active ones (server job: no actor).
    func expireSessions() async throws {
        let domain = self.domain
        let idle = configuration.sessionIdleSeconds
        _ = try await storage.write { tx in
            var count = 0
            for tenant in try tx.tenantsWithActiveSessions() {
                let actor = CallActor(tenantId: tenant, profileId: "smrt-chatd", scopes: [.admin])
                count += try domain.expireStaleSessions(tx, actor, olderThanSeconds: idle, serverJob: true)
            }
            return count
        }
    }

    /// Finishes idle and stopped streaming replies, expires approvals, drops old reply deltas (SPEC §13).
    func runStreamJob() async throws {
        let domain = self.domain
        let report = try await storage.write { tx in try domain.runStreamJob(tx) }
        if report != StreamJobReport() {
            logger.debug("stream job", metadata: ["chat.interrupted": "\(report.interrupted)", "chat.stopped": "\(report.stopped)",
                                                  "chat.approvals_expired": "\(report.approvalsExpired)",
                                                  "chat.deltas_dropped": "\(report.deltasDropped)"])
        }
    }

    /// Deletes messages past their retention (SPEC §14), trims the event log to its retention and forgets request ids
    /// older than twice the signature window.
    func purge() async throws {
        let report = try await ChatService(domain: domain, storage: storage)
            .purge(eventRetentionSeconds: configuration.eventRetentionSeconds,
                   replayCutoff: domain.clock() - 2 * configuration.signatureWindowMs)
        if report.messages > 0 {
            logger.info("messages purged", metadata: ["chat.messages": "\(report.messages)", "chat.rooms": "\(report.rooms)"])
        }
    }

    /// Stops taking calls, then answers every call it took: queued list and search calls get UNAVAILABLE,
    /// queued mutations commit and get their result (the in-flight bound keeps that short), then closes the
    /// socket. The storage and the publisher stay open for the owner to close. Idempotent; blocks (up to a
    /// few seconds), so async callers run it off the cooperative pool, as `run()` does.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for _ in 0..<running.load(ordering: .acquiring) { done.wait() }
        handler.stop()
        // Each queued mutation is answered from its completion once the write path commits it.
        let deadline = Date().addingTimeInterval(5)
        while inFlight.calls > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        if inFlight.calls > 0 { logger.warning("calls left unanswered at stop", metadata: ["chat.calls": "\(inFlight.calls)"]) }
        // nanomsg sends from its own worker thread and closing drops what it has not written yet.
        Thread.sleep(forTimeInterval: 0.1)
        socket.close()
        logger.info("stopped")
    }
}
