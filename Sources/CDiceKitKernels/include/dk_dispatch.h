// Run-time dispatch shared by every kernel family (platform/cpu_dispatch.c): the instruction-set
// levels, the level a test may force, the level each family last ran at, and the calling
// thread's floating-point control word (flush-to-zero / denormals-are-zero).
#ifndef DK_DISPATCH_H
#define DK_DISPATCH_H

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels of the kernels, named alike in Swift (`InstructionSet`).
typedef enum {
    DK_ISA_AUTOMATIC = -1, ///< dk_force_isa: no forced level (the detected one is used)
    DK_ISA_NONE = -1,      ///< dk_last_isa: the family has not run yet
    DK_ISA_PORTABLE = 0,   ///< baseline x86-64 (SSE2) C code; for convolutions, the lowered im2col + GEMM path
    DK_ISA_AVX2 = 1,       ///< AVX2 + FMA
    DK_ISA_AVX512 = 2      ///< AVX-512 F/BW/DQ + FMA (pooling also needs VL)
} dk_isa_level;

/// The kernel families whose last-used level is recorded.
typedef enum {
    DK_KERNEL_LOSS = 0,    ///< the Dice-loss passes (dice/)
    DK_KERNEL_POOL = 1,    ///< 2×2 max pooling (pooling/)
    DK_KERNEL_CONV = 2,    ///< convolutions: AVX-512 or AVX2 direct kernels, or PORTABLE for the lowered path
    DK_KERNEL_CONV_BF16 = 3, ///< bfloat16 convolutions (convolution/conv_bf16.c): AVX512 for the AVX512-BF16 kernels
    DK_KERNEL_FAMILIES = 4
} dk_kernel_family;

/// The best level this CPU runs, detected once (thread-safe: pthread_once).
dk_isa_level dk_isa_detected(void);

/// The level in use: the forced one, else the detected one.
dk_isa_level dk_isa(void);

/// Forces `level` (a dk_isa_level) for every kernel family; DK_ISA_AUTOMATIC (-1) restores
/// automatic choice (under the cap of DICEKIT_ISA, when set). Returns 0, or -1 (and changes
/// nothing) when the CPU lacks that level.
int dk_force_isa(int level);

/// Whether 2×2 max pooling runs its AVX-512 loop (the level in use is AVX-512 and the CPU has VL).
int dk_pool_avx512_enabled(void);

/// Whether convolutions may take the direct kernels (the level in use is AVX2 or AVX-512; the
/// entry points run the variant of the level in use).
int dk_conv_direct_enabled(void);

/// Records the level a kernel family ran at (the kernels call it; Swift for the lowered path).
void dk_note_isa(dk_kernel_family family, dk_isa_level level);

/// The level the family's last call ran at, or DK_ISA_NONE (-1) before any call.
int dk_last_isa(dk_kernel_family family);

/// Sets flush-to-zero and denormals-are-zero in this thread's MXCSR; returns the previous
/// control word for dk_fp_restore. Non-x86: does nothing.
unsigned dk_fp_flush_begin(void);

/// Restores the control word returned by dk_fp_flush_begin.
void dk_fp_restore(unsigned previous);

/// This thread's MXCSR (0 on non-x86), and a setter for tests.
unsigned dk_fp_control(void);
void dk_fp_set_control(unsigned value);

/// Whether this thread flushes subnormals (FTZ and DAZ both set).
int dk_fp_flushes(void);

#ifdef __cplusplus
}
#endif

#endif
