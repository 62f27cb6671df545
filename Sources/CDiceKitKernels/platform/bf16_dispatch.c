// Run-time dispatch of the bfloat16 kernels (conv_bf16.c, conv_amx.c), apart from the Float levels
// of cpu_dispatch.c: a CPU either has a bfloat16 dot-product instruction or not, independently
// of the Float level in use. Detected once under pthread_once (thread-safe), from CPUID and XCR0:
//   AVX512-BF16  CPUID.(7,1):EAX[5] (vdpbf16ps), with AVX-512 F/BW/VL usable (XCR0 bits 5–7)
//   AMX-BF16     CPUID.(7,0):EDX[22] and AMX-TILE EDX[24], usable only after Linux grants the
//                process the tile data state: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA),
//                requested once inside the same pthread_once; a refusal leaves the AVX512-BF16 level.
//                Before asking, the tile unit's shape (CPUID leaves 0x1D and 0x1E: palette 1 and the
//                multiplier's limits) must hold the tiles the kernels configure (dk_amx_tiles_fit):
//                ldtilecfg faults on a configuration its palette cannot hold, and tdpbf16ps raises
//                #UD on products past the multiplier's limits, so a smaller unit is never used and
//                counts as a failed self-check that names the shortfall.
//                Once granted, both tile kernels run their self-check on the tile unit
//                (conv_amx_check.c: exact sums, bit for bit); a failure leaves the AVX512-BF16
//                level too, and dk_amx_self_check_detail says what differed.
// At the AMX level the tile arithmetic (BFloat16Arithmetic.tiles) runs the tile kernels of
// conv_amx.c; the AVX512-BF16 kernels stay available to the other arithmetics.

#include "dk_bf16.h"
#include "dk_dispatch.h"
#include "dk_platform.h"
#include "../convolution/conv_internal.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define DK_ARCH_REQ_XCOMP_PERM 0x1023
#define DK_XFEATURE_XTILEDATA 18

static pthread_once_t bf16_once = PTHREAD_ONCE_INIT;
/// Written once inside pthread_once, which orders it before every reader's return from it.
static dk_bf16_level bf16_detected = DK_BF16_NONE;
static int amx_permission = -1;
static int amx_check_status = -1;
static char amx_check_detail[256];
static _Atomic int bf16_forced = DK_BF16_AUTOMATIC;

int dk_amx_tiles_fit(const dk_cpuid_regs *palettes, const dk_cpuid_regs *palette1, const dk_cpuid_regs *tmul,
                     char *detail, long size) {
    // What conv_amx_kernel.h configures: 8 tiles (0–7) of up to 16 rows × 64 bytes, and products
    // of 16 rows of pairs (K) into 64-byte rows (N).
    const struct {
        const char *name;
        unsigned int has, needs;
    } limits[] = {
        {"palettes, CPUID 0x1D.0 EAX", palettes->eax, 1},
        {"tiles of palette 1, CPUID 0x1D.1 EBX[31:16]", palette1->ebx >> 16, 8},
        {"bytes per row of palette 1, CPUID 0x1D.1 EBX[15:0]", palette1->ebx & 0xFFFF, 64},
        {"rows per tile of palette 1, CPUID 0x1D.1 ECX[15:0]", palette1->ecx & 0xFFFF, 16},
        {"bytes per tile of palette 1, CPUID 0x1D.1 EAX[31:16]", palette1->eax >> 16, 1024},
        {"multiplier rows K, CPUID 0x1E.0 EBX[7:0]", tmul->ebx & 0xFF, 16},
        {"multiplier row bytes N, CPUID 0x1E.0 EBX[23:8]", tmul->ebx >> 8 & 0xFFFF, 64},
    };
    for (unsigned long i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        if (limits[i].has >= limits[i].needs) continue;
        if (detail && size > 0)
            snprintf(detail, (size_t)size, "%s: %u; the kernels' tiles need %u", limits[i].name, limits[i].has,
                     limits[i].needs);
        return 0;
    }
    if (detail && size > 0) detail[0] = 0;
    return 1;
}

static void detect_bf16(void) {
    dk_cpuid_regs r0 = {0}, r1 = {0};
    if (!dk_cpuid(7, 0, &r0)) return;
    dk_cpuid(7, 1, &r1);
    const unsigned long long xcr0 = dk_xcr0();
    const int avx512_state = (xcr0 & 0xE6) == 0xE6;  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
    const int avx512 = (r0.ebx >> 16 & 1) && (r0.ebx >> 30 & 1) && (r0.ebx >> 31 & 1);  // F, BW, VL
    if (!(avx512_state && avx512 && (r1.eax >> 5 & 1))) return;
    bf16_detected = DK_BF16_AVX512;
    const int amx = (r0.edx >> 22 & 1) && (r0.edx >> 24 & 1);
    if (!amx || (xcr0 & 0x60000) != 0x60000) return;
    dk_cpuid_regs palettes = {0}, palette1 = {0}, tmul = {0};
    dk_cpuid(0x1D, 0, &palettes);
    dk_cpuid(0x1D, 1, &palette1);
    dk_cpuid(0x1E, 0, &tmul);
    if (!dk_amx_tiles_fit(&palettes, &palette1, &tmul, amx_check_detail, sizeof amx_check_detail)) {
        amx_check_status = 0;
        return;
    }
#if defined(__linux__) && defined(__x86_64__)
    amx_permission = syscall(SYS_arch_prctl, DK_ARCH_REQ_XCOMP_PERM, DK_XFEATURE_XTILEDATA) == 0;
#else
    amx_permission = 0;
#endif
    if (!amx_permission) return;
    amx_check_status = dk_amx_self_check_run(1, amx_check_detail, sizeof amx_check_detail) == 0;
    if (amx_check_status) bf16_detected = DK_BF16_AMX;
}

dk_bf16_level dk_bf16_detected(void) {
    pthread_once(&bf16_once, detect_bf16);
    return bf16_detected;
}

int dk_amx_permission(void) {
    pthread_once(&bf16_once, detect_bf16);
    return amx_permission;
}

int dk_amx_self_check_status(void) {
    pthread_once(&bf16_once, detect_bf16);
    return amx_check_status;
}

const char *dk_amx_self_check_detail(void) {
    pthread_once(&bf16_once, detect_bf16);
    return amx_check_status == 0 ? amx_check_detail : "";
}

dk_bf16_level dk_bf16_level_in_use(void) {
    dk_bf16_level best = dk_bf16_detected();
    // Forcing the Float kernels below AVX-512 forces the bfloat16 ones off too.
    if (dk_isa() != DK_ISA_AVX512) return DK_BF16_NONE;
    int forced = atomic_load_explicit(&bf16_forced, memory_order_relaxed);
    return forced >= 0 ? (dk_bf16_level)forced : best;
}

int dk_force_bf16(int level) {
    if (level < 0) {
        atomic_store_explicit(&bf16_forced, DK_BF16_AUTOMATIC, memory_order_relaxed);
        return 0;
    }
    if (level > (int)dk_bf16_detected()) return -1;
    atomic_store_explicit(&bf16_forced, level, memory_order_relaxed);
    return 0;
}
