// Ctrl-C handling for the training loop: SIGINT (and SIGTERM, and SIGUSR1, which mpirun passes on
// to the ranks as it is, unlike SIGINT) set a flag that the loop polls between steps, so it can
// save a checkpoint and exit cleanly. The handler then restores the
// default action, so a second Ctrl-C stops the process at once.

import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

private let interruptRequested = Atomic<Int32>(0)

/// Turns SIGINT/SIGTERM/SIGUSR1 into a flag the training loop polls.
///
/// ```
/// InterruptFlag.install()
/// defer { InterruptFlag.uninstall() }
/// for epoch in … { for batch in … {
///     if InterruptFlag.isRequested { save checkpoint; break out }
///     …
/// } }
/// ```
public enum InterruptFlag {
    /// Installs the handlers for SIGINT, SIGTERM and SIGUSR1 and clears the flag.
    public static func install() {
        interruptRequested.store(0, ordering: .sequentiallyConsistent)
        signal(SIGINT, handleInterrupt)
        signal(SIGTERM, handleInterrupt)
        signal(SIGUSR1, handleInterrupt)
    }

    /// Restores the default actions and clears the flag.
    public static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        signal(SIGUSR1, SIG_DFL)
        interruptRequested.store(0, ordering: .sequentiallyConsistent)
    }

    /// True once SIGINT, SIGTERM or SIGUSR1 has arrived since `install()`.
    public static var isRequested: Bool { interruptRequested.load(ordering: .sequentiallyConsistent) != 0 }

    /// The signal that arrived (SIGINT = 2, SIGUSR1 = 10, SIGTERM = 15), or nil.
    public static var signalNumber: Int32? {
        let value = interruptRequested.load(ordering: .sequentiallyConsistent)
        return value == 0 ? nil : value
    }

    /// Sets the flag as a signal would (for tests and for programmatic stops).
    public static func request() { interruptRequested.store(SIGINT, ordering: .sequentiallyConsistent) }
}

/// The signal handler: async-signal-safe (an atomic store and signal(2)).
private func handleInterrupt(_ number: Int32) {
    interruptRequested.store(number, ordering: .sequentiallyConsistent)
    signal(number, SIG_DFL)
}
