// Platform queries for DiceKit (platform.c): the CPUID and XGETBV instructions for `CPUInfo`
// (Sources/DiceKit/Support/CPUInfo*.swift, which decodes the registers; on a CPU that is not
// x86-64 they report nothing), and a symbol lookup in an already loaded shared library for the
// OpenBLAS core guard (Sources/DiceKit/Linalg/BLASCoreGuard.swift).
#ifndef DK_PLATFORM_H
#define DK_PLATFORM_H

#ifdef __cplusplus
extern "C" {
#endif

/// The four registers one CPUID leaf returns.
typedef struct {
    unsigned int eax, ebx, ecx, edx;
} dk_cpuid_regs;

/// Executes CPUID with `leaf` in EAX and `subleaf` in ECX. Returns 0 and zeroed registers when
/// the leaf is above the CPU's highest leaf of its range (basic or 0x8000_0000) or the CPU is
/// not x86-64; 1 otherwise.
int dk_cpuid(unsigned int leaf, unsigned int subleaf, dk_cpuid_regs *out);

/// XCR0, the register state the operating system saves (bit 1 SSE, 2 AVX, 5–7 AVX-512,
/// 17–18 AMX); 0 when the OS has not enabled XSAVE (CPUID.1:ECX.OSXSAVE) or on other CPUs.
unsigned long long dk_xcr0(void);

/// The address of the function `name` exported by the shared library that contains `anchor`
/// (the address of another of its functions), or by any library in the global scope when
/// `anchor` is NULL or lies in no shared library; NULL when no loaded library exports it.
/// Never loads a library.
void *dk_loaded_symbol(const void *anchor, const char *name);

/// The processors in this process's CPU affinity mask (affinity.c); 0 when it cannot be read.
int dk_allowed_cpus(void);

#ifdef __cplusplus
}
#endif

#endif
