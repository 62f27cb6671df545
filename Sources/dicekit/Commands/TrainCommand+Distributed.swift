// `dicekit train --distributed`: data-parallel training under `mpirun -np N` (Docs/Distributed.md).
// Every rank runs the same command; the trainer splits each global batch between them (the batch
// size is per rank), and only rank 0 writes files and prints. A rank that fails stops the whole
// job at once with one line naming it, so no rank waits forever in a collective operation.

import DiceKit
import DiceKitDistributed
import Foundation

extension TrainCommand {
    /// The MPI world for `--distributed` under mpirun; nil for one process (after saying so when
    /// `--distributed` was given without mpirun).
    ///
    /// - Throws: `UsageError` when mpirun started several ranks without `--distributed` (each
    ///   would train alone and write the same files); `DiceKitError` when MPI fails to start.
    static func joinRanks(_ arguments: ParsedArguments) throws -> MPICommunicator? {
        let launched = MPICommunicator.isLaunchedByMPI
        guard arguments.flag("distributed") else {
            if launched, let ranks = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"], ranks != "1" {
                throw UsageError(
                    message:
                        "started by mpirun with \(ranks) ranks but without --distributed; add --distributed (otherwise every rank trains alone into the same files)"
                )
            }
            return nil
        }
        guard launched else {
            printError(
                "dicekit train: --distributed without mpirun: training as one process (start 'mpirun -np N dicekit train --distributed ...' for N ranks)"
            )
            return nil
        }
        return try MPICommunicator()
    }

    /// Runs `body` (the training) on this rank and leaves MPI. An error on one rank aborts the
    /// job (MPI_Abort) after one line naming the rank and the error; a divergence, which every
    /// rank sees at the same step, is reported by rank 0 alone.
    static func onAllRanks(_ world: MPICommunicator?, _ body: () throws -> Void) throws {
        guard let world, world.size > 1 else {
            defer { world?.finish() }
            try body()
            return
        }
        do {
            try body()
        } catch let divergence as TrainingDivergence {
            world.finish()
            if world.rank == 0 { throw divergence }
            exit(ExitStatus.failure.rawValue)
        } catch {
            world.abort(reason: oneLine(error))
        }
        world.finish()
    }
}
