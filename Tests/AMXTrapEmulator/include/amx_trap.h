// A trap-and-emulate harness that runs the tile unit's compilation of DiceKit's AMX kernels on
// a CPU without AMX (tests only; amx_trap.c says how). Linux on x86-64 only: elsewhere
// amx_trap_install returns -1 and nothing else may be called.

#ifndef AMX_TRAP_H
#define AMX_TRAP_H

#include "dk_convolution.h"

/// The AMX instructions the emulator executes, counted over the process by amx_trap_counts.
typedef enum {
    AMX_TRAP_LDTILECFG = 0,
    AMX_TRAP_TILERELEASE = 1,
    AMX_TRAP_TILEZERO = 2,
    AMX_TRAP_TILELOADD = 3,
    AMX_TRAP_TILESTORED = 4,
    AMX_TRAP_TDPBF16PS = 5,
    AMX_TRAP_KINDS = 6
} amx_trap_kind;

/// Installs the SIGILL handler that emulates the AMX instructions (idempotent). Returns 0, or -1
/// where the harness cannot run (not Linux on x86-64, or sigaction failed).
int amx_trap_install(void);

/// Puts back the SIGILL handler that was there before amx_trap_install.
void amx_trap_remove(void);

/// Instructions emulated so far, by kind (counts[AMX_TRAP_KINDS]). All zero on a CPU whose tile
/// unit ran them itself.
void amx_trap_counts(long counts[AMX_TRAP_KINDS]);

/// Decodes one instruction at `code` as the handler does, without running it: its kind, or -1
/// for anything the emulator does not execute; `length` gets its length in bytes.
int amx_trap_decode(const unsigned char *code, int *length);

// The runners below return -1 when an emulated instruction raised #UD (a shape or configuration
// the silicon refuses; amx_trap_fault_detail says which), instead of stopping the process as the
// silicon would.

/// Runs a fixed sequence of tile instructions written with explicit registers (r8–r15 bases and
/// strides, displacements of 8 and 32 bits, a base without an index, rsp as a base, a
/// configuration addressed with an index) and compares
/// its results with scalar sums. Returns 0 when they agree, else the number of the first failing
/// step, or -1. Traps only where the tile unit is absent.
int amx_trap_probe(void);

/// The library's self-check (conv_amx_check.c) on the tile unit's compilation, without the
/// library's permission check: with the handler installed it runs on any x86-64 Linux CPU.
/// Returns its result, or -1 with the fault in `detail`.
int amx_trap_self_check(char *detail, long size);

/// dk_conv_forward_tiles_on(1, …) without the check that the AMX level is in use: 0, or -1.
int amx_trap_forward(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wt, const float *bias,
                     void *y, long q0, long q1);

/// dk_conv_weight_grad_tiles_on(1, …) without the check that the AMX level is in use: 0, or -1.
int amx_trap_weight_grad(const dk_conv_geometry *g, const uint16_t *xt, long xt_stride, const uint16_t *dyg,
                         long dyg_stride, long samples, float *dw, long kb0, long kb1, long cb0, long cb1,
                         long positions, int accumulate);

/// dk_amx_tile_products_run(hardware, rounds), the rate probe's products on the tile unit's
/// compilation (`hardware` non-zero) or the model's: their total in *total; 0, or -1.
int amx_trap_tile_products(int hardware, long rounds, double *total);

/// What this thread's last emulated #UD broke ("#UD: tdpbf16ps: rows(c) = rows(a), …"), else "".
const char *amx_trap_fault_detail(void);

#endif
