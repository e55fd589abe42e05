import ChatCore
import Foundation
import Logging
import Metrics

/// What the write path needs of an engine: one write transaction at a time on its write connection.
///
/// The writer holds it as an existential and is not generic: a generic writer instantiated in the engine's module
/// runs unspecialized, its nested types' metadata looked up at run time on every operation (measured on SQLite).
package protocol WriteEngine: AnyObject, Sendable {
    /// Runs `body` in one write transaction (BEGIN, body, COMMIT; rolled back when it throws).
    func inWriteTransaction(_ body: (any SQLConnection) throws -> Void) throws
    /// The engine's housekeeping between commits (SQLite checkpoints its WAL), called once a batch's callers were
    /// answered (or their completions handed over), before the next batch: never in a caller's wait.
    func afterCommit()
    /// Whether `afterCommit` has work now (read with the write path idle).
    var housekeepingDue: Bool { get }
    /// Called on the batch's connection after its operations, before the commit (SQLite indexes the new
    /// messages for search, PostgreSQL writes what it buffered and orders the tenants' events).
    func finishBatch(_ transaction: SQLTransaction) throws
    /// Whether a failed commit is a conflict with another writer that running the batch again may resolve.
    func isRetryable(_ error: Error) -> Bool
}

/// The single write path of an instance: a dedicated thread that commits queued operations in batches.
///
/// Each operation runs as if in its own savepoint (a failing one leaves no trace; see `commit` for how
/// that is done without SQL savepoints in the common case); the batch commits once; then every
/// operation's caller is resumed with its own outcome. A commit failure fails every operation of the batch (none of
/// them was acknowledged). The thread blocks on the database, never on Swift's cooperative pool.
package final class GroupCommitWriter: @unchecked Sendable {
    // @unchecked Sendable: `pending` and `stopped` are only touched with `condition` locked; the
    // engine is thread-safe; the thread is started once in init.
    private struct Job {
        /// Runs the operation inside its savepoint on the writer thread; returns how to finish it
        /// once the batch's commit succeeded (nil) or failed. Throws only `SavepointRequired` or `TransactionAborted`.
        let run: (SQLTransaction) throws -> (Error?) -> Void
        /// Fails the operation without running it.
        let abort: (Error) -> Void
        /// Somebody waits for it (bookkeeping jobs do not).
        let isUrgent: Bool
        /// The call it records, read with the batch's other calls before they run.
        let call: CallKey?
        /// The room it reads first, read with the batch's other rooms before they run.
        let room: RoomAccess?
    }

    private let engine: any WriteEngine
    private let maxBatch: Int
    private let logger: Logger
    private let condition = NSCondition()
    private var pending: [Job] = []
    /// Queued jobs somebody waits for; bookkeeping jobs alone wait up to `lazyDelay` to share a commit.
    private var urgent = 0
    private let lazyDelay: TimeInterval = 0.005
    private var stopped = false
    private var finished = false
    /// A batch is being committed, by the writer thread or by a caller's thread (`WriteOptions.mayCommitOnCallerThread`):
    /// one at a time, in queue order.
    private var committing = false
    /// The batch being committed holds work somebody waits for.
    private var committingUrgent = false
    /// The engine's housekeeping is due after a commit made on a caller's thread: the writer thread runs it, so the
    /// caller (an RPC worker, which may hold the server's receive) goes back to its own work.
    private var housekeepingPending = false
    /// Threads waiting in `waitWhileBusy`, and what they wait on (apart from `condition`, whose `signal` wakes the
    /// writer thread and must never wake one of them instead).
    private let idle = NSCondition()
    private var idleWaiters = 0
    /// Commits and operations so far (touched by whoever commits, one at a time: see `committing`), logged at stop:
    /// their ratio is the mean batch.
    private var commits = 0
    private var operations = 0
    /// Batches run again with savepoints because an operation failed after writing.
    private var safeRetries = 0
    /// Batches run again because they conflicted with another instance's writes.
    private var conflictRetries = 0
    private let maxAttempts = 8
    /// `smrtchat_writer_batch_operations` (operations per commit), `smrtchat_writer_commit_seconds` (a batch from
    /// its start to its commit, retries included) and `smrtchat_writer_queue_depth` (left queued when a batch starts).
    private let batchSize = Recorder(label: "smrtchat_writer_batch_operations", aggregate: true)
    private let commitTime = Metrics.Timer(label: "smrtchat_writer_commit_seconds")
    private let queueDepth = Gauge(label: "smrtchat_writer_queue_depth")

    private let onCommit: (@Sendable ([RoomEvent]) -> Void)?
    private let onStream: (@Sendable ([ReplyDelta]) -> Void)?
    /// Runs each committed batch's completions (replies, continuations) while the next batch commits.
    private let completions = WorkerThreads("smrt.chat.completions")
    /// Batches of at most this many operations run their completions on the writer thread.
    private static let inlineCompletions = 2

    package init(engine: any WriteEngine, maxBatch: Int, logger: Logger, onCommit: (@Sendable ([RoomEvent]) -> Void)?,
                 onStream: (@Sendable ([ReplyDelta]) -> Void)? = nil) {
        self.engine = engine
        self.onCommit = onCommit
        self.onStream = onStream
        self.maxBatch = max(1, maxBatch)
        self.logger = logger
        let thread = Thread { [self] in loop() }
        thread.name = "smrt.chat.writer"
        thread.start()
    }

    /// Queues `body`; `completion` runs after the commit, on the writer thread for a small batch, else on the completion
    /// thread: it must not wait for another write.
    package func submit<T: Sendable>(
        _ body: @escaping @Sendable (any ChatTransaction) throws -> T, options: WriteOptions,
        completion: @escaping @Sendable (Result<T, Error>) -> Void
    ) {
        let isUrgent = options.urgent
        let job = Job(run: { tx in
            let outcome: Result<T, Error>
            do {
                outcome = .success(try tx.savepoint { try body(tx) })
            } catch let error as SavepointRequired {
                throw error
            } catch let error as TransactionAborted {
                throw error
            } catch {
                outcome = .failure(error)
            }
            return { commitError in completion(commitError.map { .failure($0) } ?? outcome) }
        }, abort: { completion(.failure($0)) }, isUrgent: isUrgent, call: options.call, room: options.room)
        condition.lock()
        if stopped {
            condition.unlock()
            completion(.failure(ChatError(.unavailable, .internal, "the store is closing")))
            return
        }
        pending.append(job)
        if isUrgent {
            urgent += 1
            // The write path is idle and nothing else waits: commit here instead of waking the writer thread and
            // waiting for it (a lone call's commit, its reply sent from here too).
            if options.mayCommitOnCallerThread && !committing && pending.count == 1 {
                committing = true
                committingUrgent = true
                pending.removeAll(keepingCapacity: true)
                urgent -= 1
                condition.unlock()
                batchSize.record(1)
                let started = DispatchTime.now().uptimeNanoseconds
                commit([job], housekeeping: false, publishAfterReplies: true)
                commitTime.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- started))
                condition.lock()
                committing = false
                committingUrgent = false
                if engine.housekeepingDue { housekeepingPending = true }
                if !pending.isEmpty || stopped || housekeepingPending { condition.broadcast() }
                let nowIdle = urgent == 0
                condition.unlock()
                if nowIdle { wakeIdleWaiters() }
                return
            }
            condition.signal()
        } else if pending.count == 1 {
            condition.signal()
        }
        condition.unlock()
    }

    /// Refuses new work, lets the queued work commit, and waits for the thread to end.
    package func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
        completions.stop()
        logger.debug("writer stopped", metadata: ["chat.commits": "\(commits)", "chat.operations": "\(operations)",
                                                  "chat.safe_retries": "\(safeRetries)",
                                                  "chat.conflict_retries": "\(conflictRetries)"])
    }

    private func loop() {
        while true {
            condition.lock()
            while ((pending.isEmpty && !housekeepingPending) || committing) && !(stopped && !committing) { condition.wait() }
            // Only bookkeeping queued: give it a moment to share a commit with real work.
            if urgent == 0 && !stopped && !pending.isEmpty {
                _ = condition.wait(until: Date().addingTimeInterval(lazyDelay))
            }
            // A caller's thread took the write path meanwhile (possible after the timed wait): wait for it.
            if committing {
                condition.unlock()
                continue
            }
            if pending.isEmpty && stopped {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            if pending.isEmpty {
                // Woken for the housekeeping a caller's commit left due; it holds the write path like a commit.
                guard housekeepingPending else {
                    condition.unlock()
                    continue
                }
                housekeepingPending = false
                committing = true
                condition.unlock()
                engine.afterCommit()
                condition.lock()
                committing = false
                condition.unlock()
                continue
            }
            housekeepingPending = false
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            urgent -= batch.reduce(0) { $0 + ($1.isUrgent ? 1 : 0) }
            let queued = pending.count
            committing = true
            committingUrgent = batch.contains { $0.isUrgent }
            condition.unlock()
            queueDepth.record(queued)
            batchSize.record(batch.count)
            let started = DispatchTime.now().uptimeNanoseconds
            commit(batch, housekeeping: true)
            commitTime.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- started))
            condition.lock()
            committing = false
            committingUrgent = false
            let nowIdle = urgent == 0
            condition.unlock()
            if nowIdle { wakeIdleWaiters() }
        }
    }

    /// Whether work somebody waits for is queued or being committed.
    private var isBusy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return (urgent > 0 || committingUrgent) && !stopped
    }

    /// Blocks while work somebody waits for is queued or committing, at most `timeout`: how work that can wait (a page of
    /// history) gives way to writes. Returns at once when the write path has nothing urgent.
    package func waitWhileBusy(upTo timeout: TimeInterval) {
        guard isBusy else { return }
        let deadline = Date().addingTimeInterval(timeout)
        idle.lock()
        idleWaiters += 1
        // `isBusy` is read with `idle` held and the writer takes `idle` to wake waiters: no wake-up is lost.
        while isBusy && idle.wait(until: deadline) {}
        idleWaiters -= 1
        idle.unlock()
    }

    private func wakeIdleWaiters() {
        idle.lock()
        if idleWaiters > 0 { idle.broadcast() }
        idle.unlock()
    }

    /// Commits a batch. The first attempt opens no savepoints (see `SQLTransaction.optimistic`): a
    /// savepoint and its release are two statements per operation, and an operation that is refused is
    /// nearly always refused before its first write. When one fails after writing, the whole attempt is
    /// rolled back and the batch runs again with a savepoint per operation.
    ///
    /// `publishAfterReplies` (a lone call committed on its caller's thread): the batch's events and deltas go out
    /// after its reply, not before: with 100 subscribers the copies held a lone sender's reply for a millisecond.
    /// Still before the next commit can start (the caller holds `committing` until this returns), so events leave
    /// in commit order either way. The writer thread's batches publish first, as `onCommit`'s users expect.
    private func commit(_ batch: [Job], housekeeping: Bool, publishAfterReplies: Bool = false) {
        var finishers: [(Error?) -> Void] = []
        finishers.reserveCapacity(batch.count)
        var optimistic = true
        var attempt = 1
        while true {
            finishers.removeAll(keepingCapacity: true)
            do {
                var events: [RoomEvent] = []
                var deltas: [ReplyDelta] = []
                try engine.inWriteTransaction { connection in
                    let tx = SQLTransaction(connection, optimistic: optimistic)
                    if tx.prefetches { try tx.prefetch(calls: batch.compactMap { $0.call }, rooms: Set(batch.compactMap { $0.room })) }
                    for job in batch { finishers.append(try job.run(tx)) }
                    try engine.finishBatch(tx)
                    events = tx.events
                    deltas = tx.deltas
                }
                commits += 1
                operations += batch.count
                let publish = { [onCommit, onStream] in
                    if let onCommit, !events.isEmpty { onCommit(events) }
                    if let onStream, !deltas.isEmpty { onStream(deltas) }
                }
                if !publishAfterReplies { publish() }
                // A small batch is answered from here: handing it to the completion thread costs a thread wake-up
                // per commit, the larger part of the work when few callers wait; a larger one overlaps the next
                // commit there.
                if batch.count <= Self.inlineCompletions {
                    for finish in finishers { finish(nil) }
                } else {
                    let committed = finishers
                    completions.submit { for finish in committed { finish(nil) } }
                }
                if publishAfterReplies { publish() }
                if housekeeping { engine.afterCommit() }
                return
            } catch is SavepointRequired where optimistic {
                optimistic = false
                safeRetries += 1
            } catch where attempt < maxAttempts && (error is TransactionAborted || engine.isRetryable(error)) {
                let cause = (error as? TransactionAborted)?.error ?? error
                logger.debug("batch conflicted, run again", metadata: ["error": "\(cause)", "chat.attempt": "\(attempt)"])
                // The other writer usually commits within a few milliseconds: a growing, jittered pause lets it,
                // instead of two instances running the same calls against each other again at once.
                Thread.sleep(forTimeInterval: Double.random(in: 0.5...1.5) * 0.002 * Double(attempt))
                attempt += 1
                conflictRetries += 1
            } catch {
                let error = (error as? TransactionAborted)?.error ?? error
                logger.error("group commit failed", metadata: ["error": "\(String(reflecting: error))", "chat.batch": "\(batch.count)"])
                for finish in finishers { finish(error) }
                for job in batch.dropFirst(finishers.count) { job.abort(error) }
                return
            }
        }
    }
}
