import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A few dedicated threads running submitted jobs in arrival order (one thread: strictly one after the
/// other), optionally at a lower scheduling priority.
///
/// Used where work must leave a thread that others wait on: the write path hands each batch's replies
/// and continuations to one, so that sending them overlaps the next commit; the server runs list and
/// search calls on background threads, so that clients paging history flat out use the CPU the writer
/// leaves instead of taking it.
public final class WorkerThreads: @unchecked Sendable {
    // @unchecked Sendable: `jobs`, `head`, `stopped` and `running` are only touched with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var head = 0
    private var stopped = false
    private var running = 0

    /// - Parameters:
    ///   - threads: how many threads (at least 1).
    ///   - background: run at the lowest priority (Linux `SCHED_IDLE`, else nice 19): any other runnable
    ///     thread preempts these at once, on any core.
    public init(_ name: String, threads: Int = 1, background: Bool = false) {
        for i in 0..<max(1, threads) {
            let thread = Thread { [self] in
                #if canImport(Glibc)
                if background {
                    // Lowering one's own policy needs no privilege; niceness is the fallback.
                    var param = sched_param()
                    if pthread_setschedparam(pthread_self(), 5 /* SCHED_IDLE */, &param) != 0 {
                        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)  // `who` 0: this thread
                    }
                }
                #endif
                loop()
            }
            thread.name = "\(name).\(i)"
            running += 1
            thread.start()
        }
    }

    public func submit(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs what is queued, then ends the threads. Idempotent.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while head == jobs.count && !stopped { condition.wait() }
            if head == jobs.count {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            condition.unlock()
            job()
        }
    }
}
