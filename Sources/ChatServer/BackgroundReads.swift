import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Threads that run list and search calls at a lower scheduling priority (nice 10).
///
/// Paging history is the heaviest work a client can ask for, and on a small machine a few clients doing
/// it flat out took the CPU the single writer needs (sends fell to a quarter). These threads get the
/// CPU when the receiving threads and the writer leave it idle; the calls still run concurrently and
/// answer in order of arrival. Raising niceness needs no privilege.
final class BackgroundReads: @unchecked Sendable {
    // @unchecked Sendable: `jobs`, `head` and `stopped` are only touched with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var head = 0
    private var stopped = false
    private var running = 0

    init(threads: Int, nice: Int32 = 19) {
        for i in 0..<max(1, threads) {
            let thread = Thread { [self] in
                #if canImport(Glibc)
                // On Linux niceness belongs to the thread: `who` 0 is the calling thread, not the process.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
                #endif
                loop()
            }
            thread.name = "smrt.chat.reads.\(i)"
            running += 1
            thread.start()
        }
    }

    func submit(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs what is queued, then ends the threads.
    func stop() {
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
