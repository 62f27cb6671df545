// The emulator's probe (amx_trap_probe.c), which amx_trap_probe runs with a recovery point.

#ifndef AMX_TRAP_PROBE_H
#define AMX_TRAP_PROBE_H

/// The probe's tile instructions against its scalar sums: 0 when they agree, else the number of
/// the first failing step (-1 where there is no x86-64 Linux).
int amx_trap_probe_run(void);

#endif
