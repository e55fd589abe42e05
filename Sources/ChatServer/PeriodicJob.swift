import Foundation
import Logging
import ServiceLifecycle

/// A server job run every `interval` (first run one interval after start) until graceful shutdown, as a
/// service of the owner's `ServiceGroup`.
///
/// Shutdown cancels the wait between runs at once; a run under way finishes first (storage writes are not
/// cancelled), so the job is over before the storage it writes to is closed. A run that throws is logged
/// and the job goes on.
public struct PeriodicJob: Service, CustomStringConvertible {
    /// The job's name in logs (`chat.job`).
    public let name: String
    /// The wait before each run, counted from the end of the previous one.
    public let interval: Duration
    private let body: @Sendable () async throws -> Void
    private let logger: Logger

    public init(name: String, interval: Duration, logger: Logger, body: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.body = body
    }

    public var description: String { "job.\(name)" }

    public func run() async {
        // Only the sleep throws, and only CancellationError: the way out at shutdown.
        try? await cancelWhenGracefulShutdown { [self] in
            while true {
                try await Task.sleep(for: interval)
                do {
                    try await body()
                } catch {
                    logger.warning("job failed", metadata: ["chat.job": "\(name)", "error": "\(error)"])
                }
            }
        }
    }
}

/// Runs `body`, which blocks (joins threads, waits for a drain), on a thread of its own and resumes when it
/// has returned, so a service shutting down never holds one of the few threads of the cooperative pool.
public func onDedicatedThread(_ name: String, _ body: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let thread = Thread {
            body()
            continuation.resume()
        }
        thread.name = name
        thread.start()
    }
}
