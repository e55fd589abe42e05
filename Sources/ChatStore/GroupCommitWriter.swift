import ChatCore
import Foundation
import GRDB
import Logging

/// The single write path: a dedicated thread that commits queued operations in batches.
///
/// Each operation runs as if in its own savepoint (a failing one leaves no trace; see `commit` for how
/// that is done without SQL savepoints in the common case); the batch commits once; then every
/// operation's caller is resumed with its own outcome. A commit failure fails every operation of the batch (none of
/// them was acknowledged). The thread blocks on the database, never on Swift's cooperative pool.
final class GroupCommitWriter: @unchecked Sendable {
    // @unchecked Sendable: `pending` and `stopped` are only touched with `condition` locked; the
    // pool is thread-safe; the thread is started once in init.
    private struct Job {
        /// Runs the operation inside its savepoint on the writer thread; returns how to finish it
        /// once the batch's commit succeeded (nil) or failed. Throws only `SavepointRequired`.
        let run: (SQLiteTransaction) throws -> (Error?) -> Void
        /// Fails the operation without running it.
        let abort: (Error) -> Void
        /// Somebody waits for it (bookkeeping jobs do not).
        let isUrgent: Bool
    }

    private let pool: DatabasePool
    private let maxBatch: Int
    private let logger: Logger
    private let condition = NSCondition()
    private var pending: [Job] = []
    /// Queued jobs somebody waits for; bookkeeping jobs alone wait up to `lazyDelay` to share a commit.
    private var urgent = 0
    private let lazyDelay: TimeInterval = 0.005
    private var stopped = false
    private var finished = false
    /// Commits and operations so far (writer thread only), logged at stop: their ratio is the mean batch.
    private var commits = 0
    private var operations = 0
    /// Batches run again with savepoints because an operation failed after writing.
    private var safeRetries = 0
    /// When the writer last copied the WAL into the database file.
    private var lastCheckpoint = Date.distantPast
    private let checkpointInterval: TimeInterval = 0.1

    private let onCommit: (@Sendable ([RoomEvent]) -> Void)?
    /// Runs each committed batch's completions (replies, continuations) while the next batch commits.
    private let completions = WorkerThreads("smrt.chat.completions")

    init(pool: DatabasePool, maxBatch: Int, logger: Logger, onCommit: (@Sendable ([RoomEvent]) -> Void)?) {
        self.pool = pool
        self.onCommit = onCommit
        self.maxBatch = max(1, maxBatch)
        self.logger = logger
        let thread = Thread { [self] in loop() }
        thread.name = "smrt.chat.writer"
        thread.start()
    }

    /// Queues `body`; `completion` runs on the completion thread after the commit.
    func submit<T: Sendable>(
        _ body: @escaping @Sendable (any ChatTransaction) throws -> T, urgent: Bool,
        completion: @escaping @Sendable (Result<T, Error>) -> Void
    ) {
        enqueue(body, urgent: urgent, completion: completion)
    }

    private func enqueue<T: Sendable>(
        _ body: @escaping @Sendable (any ChatTransaction) throws -> T, urgent isUrgent: Bool,
        completion: @escaping (Result<T, Error>) -> Void
    ) {
        let job = Job(run: { tx in
            let outcome: Result<T, Error>
            do {
                outcome = .success(try tx.savepoint { try body(tx) })
            } catch let error as SavepointRequired {
                throw error
            } catch {
                outcome = .failure(error)
            }
            return { commitError in completion(commitError.map { .failure($0) } ?? outcome) }
        }, abort: { completion(.failure($0)) }, isUrgent: isUrgent)
        condition.lock()
        if stopped {
            condition.unlock()
            completion(.failure(ChatError(.unavailable, .internal, "the store is closing")))
            return
        }
        pending.append(job)
        if isUrgent {
            urgent += 1
            condition.signal()
        } else if pending.count == 1 {
            condition.signal()
        }
        condition.unlock()
    }

    /// Refuses new work, lets the queued work commit, and waits for the thread to end.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
        completions.stop()
        logger.debug("writer stopped", metadata: ["chat.commits": "\(commits)", "chat.operations": "\(operations)",
                                                  "chat.safe_retries": "\(safeRetries)"])
    }

    private func loop() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopped { condition.wait() }
            // Only bookkeeping queued: give it a moment to share a commit with real work.
            if urgent == 0 && !stopped && !pending.isEmpty {
                _ = condition.wait(until: Date().addingTimeInterval(lazyDelay))
            }
            if pending.isEmpty && stopped {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            if pending.isEmpty {
                condition.unlock()
                continue
            }
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            urgent -= batch.reduce(0) { $0 + ($1.isUrgent ? 1 : 0) }
            condition.unlock()
            commit(batch)
        }
    }

    /// Copies the WAL into the database file at most every `checkpointInterval`, after a commit.
    ///
    /// SQLite's own rule (the committing connection checkpoints once the WAL passes 1,000 pages) misfires
    /// while readers hold snapshots: the WAL cannot restart, stays past the threshold, and every commit
    /// checkpoints again with an fsync of the database file. With 4 clients paging history the writer
    /// made 90 fdatasync calls a second instead of 6 and sends fell by a third. The writer's connection has
    /// `wal_autocheckpoint = 0`; this keeps SQLite's behaviour otherwise (a PASSIVE checkpoint between two
    /// commits, so the next commit restarts the WAL when nothing holds it).
    private func checkpointIfDue(_ db: Database) {
        let now = Date()
        guard now.timeIntervalSince(lastCheckpoint) >= checkpointInterval else { return }
        lastCheckpoint = now
        do {
            _ = try db.checkpoint(.passive)
        } catch {
            logger.debug("checkpoint failed", metadata: ["error": "\(error)"])
        }
    }

    /// Commits a batch. The first attempt opens no savepoints (see `SQLiteTransaction.optimistic`): a
    /// savepoint and its release are two statements per operation, and an operation that is refused is
    /// nearly always refused before its first write. When one fails after writing, the whole attempt is
    /// rolled back and the batch runs again with a savepoint per operation.
    private func commit(_ batch: [Job]) {
        var finishers: [(Error?) -> Void] = []
        finishers.reserveCapacity(batch.count)
        var optimistic = true
        while true {
            finishers.removeAll(keepingCapacity: true)
            do {
                var events: [RoomEvent] = []
                try pool.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        let tx = SQLiteTransaction(db, optimistic: optimistic)
                        for job in batch { finishers.append(try job.run(tx)) }
                        try tx.indexPendingMessages()
                        events = tx.events
                        return .commit
                    }
                    checkpointIfDue(db)
                }
                commits += 1
                operations += batch.count
                if let onCommit, !events.isEmpty { onCommit(events) }
                let committed = finishers
                completions.submit { for finish in committed { finish(nil) } }
                return
            } catch is SavepointRequired where optimistic {
                optimistic = false
                safeRetries += 1
            } catch {
                logger.error("group commit failed", metadata: ["error": "\(error)", "chat.batch": "\(batch.count)"])
                for finish in finishers { finish(error) }
                for job in batch.dropFirst(finishers.count) { job.abort(error) }
                return
            }
        }
    }
}
