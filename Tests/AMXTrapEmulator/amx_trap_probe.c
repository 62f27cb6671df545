// The emulator's own check (amx_trap_probe runs it): tile instructions in inline assembly with
// registers and addressing forms chosen by hand, so that the decoder meets what a compiler may
// emit for the kernels (bases and strides in r8–r15, displacements of 8 and 32 bits, a scaled
// stride, a base without an index, rsp as a base, a configuration addressed with an index, tile
// numbers up to 7), and results compared with sums computed here. Run natively, it checks the
// same on a CPU with AMX.

#include "amx_trap_probe.h"
#include <stdint.h>
#include <string.h>

#if defined(__linux__) && defined(__x86_64__)

/// bfloat16 bits of a small integer (exact).
static uint16_t bf16(int v) {
    const float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

/// A 64-byte tile configuration in the reference's layout.
static void configure(uint8_t config[64], int tile, int rows, int colsb) {
    config[0] = 1;
    config[16 + 2 * tile] = (uint8_t)colsb;
    config[17 + 2 * tile] = (uint8_t)(colsb >> 8);
    config[48 + tile] = (uint8_t)rows;
}

__attribute__((target("amx-tile,amx-bf16"))) int amx_trap_probe_run(void) {
    // First configuration, loaded through rsp: C (tile 7) = 4 rows × 4 Float; A (tile 1) = 4 rows ×
    // 2 pairs, rows 24 bytes apart; B (tile 2) = 2 pairs × 4 columns, rows 48 bytes apart. Second,
    // loaded through a base and a scaled index: tile 3 alone, 2 rows × 16 bytes from one row (no index).
    uint8_t first[64] __attribute__((aligned(64))) = {0}, second[64] __attribute__((aligned(64))) = {0};
    configure(first, 7, 4, 16);
    configure(first, 1, 4, 8);
    configure(first, 2, 2, 16);
    configure(second, 3, 2, 16);
    uint16_t a[4][12] = {{0}}, b[2][24] = {{0}};
    for (int m = 0; m < 4; m++)
        for (int k = 0; k < 4; k++) a[m][k] = bf16(m - k + 1);
    for (int k = 0; k < 2; k++)
        for (int n = 0; n < 8; n++) b[k][n] = bf16(2 * k - n + 3);
    float c[4][8], same[2][16], row[4] = {1.5f, -2.0f, 3.25f, 7.0f};
    for (int i = 0; i < 32; i++) c[i / 8][i % 8] = same[i / 16][i % 16] = -99.0f;
    register long r8 __asm__("r8") = 0x40;
    register const void *r9 __asm__("r9") = second - 0x8 - 2 * 0x40;
    register const void *r10 __asm__("r10") = (const uint8_t *)a - 0x10;
    register long r11 __asm__("r11") = sizeof a[0];
    register const void *r12 __asm__("r12") = (const uint8_t *)b - 0x1000;
    register long r13 __asm__("r13") = sizeof b[0] / 2;
    register void *r14 __asm__("r14") = c;
    register long r15 __asm__("r15") = sizeof c[0];
    __asm__ volatile("sub $0x100, %%rsp\n\t" // below the red zone the compiler may use
                     "mov %[first], %%rsi\n\t"
                     "mov %%rsp, %%rdi\n\t"
                     "mov $64, %%ecx\n\t"
                     "rep movsb\n\t"
                     "ldtilecfg (%%rsp)\n\t"
                     "add $0x100, %%rsp\n\t"
                     "tileloadd 0x10(%%r10,%%r11,1), %%tmm1\n\t"
                     "tileloadd 0x1000(%%r12,%%r13,2), %%tmm2\n\t"
                     "tilezero %%tmm7\n\t"
                     "tdpbf16ps %%tmm2, %%tmm1, %%tmm7\n\t"
                     "tilestored %%tmm7, (%%r14,%%r15,1)\n\t"
                     "ldtilecfg 0x8(%%r9,%%r8,2)\n\t"
                     "tileloadd (%[row]), %%tmm3\n\t"
                     "tilestored %%tmm3, -0x10(%[same],%%r8,1)\n\t" // rows 64 bytes apart
                     "tilerelease"
                     :
                     : "r"(r8), "r"(r9), "r"(r10), "r"(r11), "r"(r12), "r"(r13), "r"(r14), "r"(r15),
                       [first] "r"(first), [row] "r"(row), [same] "r"((uint8_t *)same + 0x10)
                     : "rsi", "rdi", "rcx", "memory");
    for (int m = 0; m < 4; m++)
        for (int n = 0; n < 4; n++) {
            int sum = 0;
            for (int k = 0; k < 2; k++)
                sum += (m - 2 * k + 1) * (2 * k - 2 * n + 3) + (m - 2 * k) * (2 * k - 2 * n + 2);
            if (c[m][n] != (float)sum) return 1;
            if (c[m][4 + n] != -99.0f) return 2; // past colsb: not written
        }
    for (int r = 0; r < 2; r++)
        for (int n = 0; n < 16; n++)
            if (same[r][n] != (n < 4 ? row[n] : -99.0f)) return 3;
    return 0;
}

#else

int amx_trap_probe_run(void) { return -1; }

#endif
