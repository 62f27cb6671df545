// Run-time CPU dispatch shared by every kernel file: the instruction sets this CPU has (detected
// once, under pthread_once, so concurrent first calls from several threads cannot race), the
// level a test may force, the level each kernel family actually ran at its last call, and the
// floating-point control word (flush-to-zero / denormals-are-zero) of the calling thread.

#include "dk_dispatch.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
/// Written once inside pthread_once, which orders it before every reader's return from it.
static dk_isa_level detected_level = DK_ISA_PORTABLE;
static int detected_pool_avx512 = 0;

/// DK_ISA_AUTOMATIC, else a level the CPU has (checked by dk_force_isa).
static _Atomic int forced_level = DK_ISA_AUTOMATIC;
/// The cap DICEKIT_ISA sets (DK_ISA_AUTOMATIC without one): what dk_force_isa(DK_ISA_AUTOMATIC)
/// returns to, so that the cap holds for the whole process even after a forced level ends.
/// Written once inside pthread_once.
static int environment_level = DK_ISA_AUTOMATIC;
static _Atomic int last_level[DK_KERNEL_FAMILIES];

static void detect(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
    if (avx512)
        detected_level = DK_ISA_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        detected_level = DK_ISA_AVX2;
    else
        detected_level = DK_ISA_PORTABLE;
    detected_pool_avx512 = avx512 && __builtin_cpu_supports("avx512vl");
#endif
    // DICEKIT_ISA=portable|avx2|avx512 caps the level for the whole process (to measure a lower
    // level's kernels on this CPU); a name it does not know or a level the CPU lacks is ignored
    // here, and dicekit-bench refuses to run with one.
    const char *cap = getenv("DICEKIT_ISA");
    if (cap) {
        int level = !strcmp(cap, "portable") ? DK_ISA_PORTABLE : !strcmp(cap, "avx2") ? DK_ISA_AVX2
                  : !strcmp(cap, "avx512") ? DK_ISA_AVX512 : DK_ISA_NONE;
        if (level >= 0 && level <= (int)detected_level) {
            environment_level = level;
            atomic_store_explicit(&forced_level, level, memory_order_relaxed);
        }
    }
    for (int f = 0; f < DK_KERNEL_FAMILIES; f++) atomic_init(&last_level[f], DK_ISA_NONE);
}

dk_isa_level dk_isa_detected(void) {
    pthread_once(&detect_once, detect);
    return detected_level;
}

dk_isa_level dk_isa(void) {
    dk_isa_level best = dk_isa_detected();
    int forced = atomic_load_explicit(&forced_level, memory_order_relaxed);
    return forced >= 0 ? (dk_isa_level)forced : best;
}

int dk_force_isa(int level) {
    if (level < 0) {
        pthread_once(&detect_once, detect);
        atomic_store_explicit(&forced_level, environment_level, memory_order_relaxed);
        return 0;
    }
    if (level > (int)dk_isa_detected()) return -1;
    atomic_store_explicit(&forced_level, level, memory_order_relaxed);
    return 0;
}

int dk_pool_avx512_enabled(void) {
    return dk_isa() == DK_ISA_AVX512 && detected_pool_avx512;
}

int dk_conv_direct_enabled(void) {
    return dk_isa() >= DK_ISA_AVX2;
}

void dk_note_isa(dk_kernel_family family, dk_isa_level level) {
    pthread_once(&detect_once, detect);
    atomic_store_explicit(&last_level[family], (int)level, memory_order_relaxed);
}

int dk_last_isa(dk_kernel_family family) {
    pthread_once(&detect_once, detect);
    return atomic_load_explicit(&last_level[family], memory_order_relaxed);
}

// MARK: - Subnormals

// MXCSR bits: FTZ (bit 15) writes subnormal results as zero, DAZ (bit 6) reads subnormal inputs
// as zero. Without them a subnormal operand or result costs ~100 cycles on many x86 cores.
#define DK_FTZ_DAZ 0x8040u

unsigned dk_fp_flush_begin(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned previous = _mm_getcsr();
    if ((previous & DK_FTZ_DAZ) != DK_FTZ_DAZ) _mm_setcsr(previous | DK_FTZ_DAZ);
    return previous;
#else
    return 0;
#endif
}

void dk_fp_restore(unsigned previous) {
#if defined(__x86_64__) || defined(__i386__)
    if (_mm_getcsr() != previous) _mm_setcsr(previous);
#else
    (void)previous;
#endif
}

unsigned dk_fp_control(void) {
#if defined(__x86_64__) || defined(__i386__)
    return _mm_getcsr();
#else
    return 0;
#endif
}

void dk_fp_set_control(unsigned value) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(value);
#else
    (void)value;
#endif
}

int dk_fp_flushes(void) {
#if defined(__x86_64__) || defined(__i386__)
    return (_mm_getcsr() & DK_FTZ_DAZ) == DK_FTZ_DAZ;
#else
    return 0;
#endif
}

#if !defined(__x86_64__)
#include "../convolution/conv_internal.h"
#include <stdio.h>

_Noreturn void dk_no_vector_kernel(const char *name) {
    fprintf(stderr, "DiceKit: internal error: %s has no kernel on this CPU (x86-64 only)\n", name);
    abort();
}
#endif
