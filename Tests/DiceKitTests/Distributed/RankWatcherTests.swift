// RankWatcher.ending(of:): how a process of another rank ended, read from /proc: nil while it
// runs, the signal of a zombie (ended, not yet collected by its parent), a general description
// once it is gone.

import Foundation
import XCTest

@testable import DiceKitDistributed

#if canImport(Glibc)
    import Glibc
#endif

final class RankWatcherTests: XCTestCase {
    func testARunningProcessAZombieAndAVanishedProcess() throws {
        XCTAssertNil(RankWatcher.ending(of: getpid()))
        // A child that kills itself stays a zombie until it is waited for.
        var pid: pid_t = 0
        let arguments = ["/bin/sh", "-c", "kill -9 $$"]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        XCTAssertEqual(posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ), 0)
        var ending: String?
        for _ in 0..<200 where ending == nil {
            ending = RankWatcher.ending(of: pid)
            if ending == nil { usleep(10_000) }
        }
        XCTAssertEqual(ending, "killed by signal 9 (Killed)")
        var status: Int32 = 0
        XCTAssertEqual(waitpid(pid, &status, 0), pid)
        XCTAssertEqual(
            RankWatcher.ending(of: pid),
            "its process ended unexpectedly: killed (SIGKILL, the out-of-memory killer) or exited")
    }
}
