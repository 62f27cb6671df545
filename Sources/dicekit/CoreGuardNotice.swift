// The one line `dicekit` prints on stderr when the OpenBLAS core guard switched OpenBLAS's
// kernels (or tried and failed), before a command's first BLAS call. See BLAS.coreSelection.

import DiceKit

/// Runs the OpenBLAS core guard now and says so on stderr when it changed (or could not change)
/// the core; silent otherwise.
func reportCoreGuard() {
    let selection = BLAS.coreSelection
    switch selection.reason {
    case .corrected:
        printError(
            "dicekit: OpenBLAS core \(selection.found) → \(selection.chosen): \(selection.detail) "
                + "(set OPENBLAS_CORETYPE to choose, \(BLAS.coreGuardSwitch)=0 to keep OpenBLAS's choice)")
    case .failed:
        printError("dicekit: OpenBLAS runs its generic \(selection.chosen) kernels: \(selection.detail)")
    default:
        break
    }
}
