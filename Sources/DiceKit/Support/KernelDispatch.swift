// The run-time dispatch of the C kernels (Sources/CDiceKitKernels, platform/cpu_dispatch.c) as
// Swift sees it: the instruction set in use, a test switch that lowers it for every kernel family,
// and the level each family last ran at. The state lives in C (atomics, detected once under
// pthread_once); this type holds none.

internal import CDiceKitKernels

/// Internal access to the C kernels' instruction-set dispatch (for tests and diagnostics).
enum KernelDispatch {
    /// The instruction set in use: "avx512", "avx2" or "portable".
    static var instructionSet: String { InstructionSet.current.description }

    /// Limits every kernel family (losses, pooling, convolutions) to `isa`, or restores the
    /// automatic choice with nil (under the cap `DICEKIT_ISA` sets, when it is set); for tests
    /// that compare the variants. Process-wide: prefer
    /// `withInstructionSet(_:_:)`, which restores the automatic choice when its body returns.
    ///
    /// - Throws: `DiceKitError.option` when the CPU lacks `isa` (nothing changes): a forced
    ///   level is never silently replaced by another.
    static func force(_ isa: InstructionSet?) throws {
        guard let isa else {
            _ = dk_force_isa(DK_ISA_AUTOMATIC.rawValue)
            return
        }
        guard dk_force_isa(isa.level.rawValue) == 0 else {
            throw DiceKitError.option(
                "instruction set \(isa) cannot be forced: this CPU runs at most \(InstructionSet.detected)")
        }
    }

    /// Runs `body` with every kernel family limited to `isa`, then restores the automatic choice
    /// (also when `body` throws).
    ///
    /// - Throws: `DiceKitError.option` when the CPU lacks `isa` (`body` does not run), or what
    ///   `body` throws.
    static func withInstructionSet<R>(_ isa: InstructionSet, _ body: () throws -> R) throws -> R {
        try force(isa)
        defer { _ = dk_force_isa(DK_ISA_AUTOMATIC.rawValue) }
        return try body()
    }

    /// The instruction set the last call of a kernel family ran at (nil before any call).
    static func lastUsed(_ family: KernelFamily) -> InstructionSet? {
        InstructionSet(level: dk_isa_level(rawValue: dk_last_isa(family.family)))
    }
}
