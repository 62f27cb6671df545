// CDiceKitKernels: DiceKit's C kernels, by concern, each with AVX-512 (and, for the losses and
// convolutions, AVX2) variants chosen at run time and no build flags:
//   dk_dice.h         the Dice-loss passes (dice/: portable, AVX2, AVX-512, dense targets, dispatch)
//   dk_focal.h        the focal loss's element loops, sigmoid and softmax (focal/, AVX-512)
//   dk_lovasz.h       the Lovász extension of Float errors: radix sort, value, signed slopes (lovasz/)
//   dk_convolution.h  direct Float convolutions (convolution/: AVX-512, AVX2)
//   dk_bf16.h         bfloat16 conversion and convolutions (convolution/bf16_*.c, conv_bf16.c, conv_amx.c;
//                     platform/bf16_dispatch.c)
//   dk_pooling.h      2×2 max pooling (pooling/)
//   dk_skeleton.h     the soft skeleton of clDice and its gradient (skeleton/)
//   dk_activation.h   the rectifier's in-place passes (activation/, SSE2)
//   dk_normalization.h  the normalisation layers' moments, sums and row passes (normalization/)
//   dk_optimizer.h    the Adam update of a Float tensor (optimizer/)
//   dk_dispatch.h     instruction-set detection, forcing and recording; the FP control word (platform/cpu_dispatch.c)
//   dk_platform.h     CPUID, XCR0, loaded-symbol lookup, CPU affinity (platform/)
//   dk_limits.h       sizes shared with the Swift callers
// The shared polynomial exp/log live in math/ (internal). Internal to DiceKit: reached only
// through Sources/DiceKit/Losses/DiceLoss+CKernels.swift, FocalLoss+Passes.swift and SoftSkeleton+CKernel.swift, Sources/DiceKit/NN/Activations.swift,
// Sources/DiceKit/NN/Normalization/NormalizationKernels.swift, Sources/DiceKit/NN/Optimizers/Adam.swift,
// Sources/DiceKit/Convolution (PoolingKernels+Tiling.swift, DirectConvolution.swift,
// BFloat16Convolution.swift, ConvEngine.swift), Sources/DiceKit/Linalg/BLASCoreGuard.swift and
// Sources/DiceKit/Support (InstructionSet.swift, KernelDispatch.swift, CPUInfo+Detection.swift,
// BFloat16.swift, WorkerPool.swift).
#ifndef CDICEKITKERNELS_H
#define CDICEKITKERNELS_H

#include "dk_limits.h"
#include "dk_dispatch.h"
#include "dk_dice.h"
#include "dk_focal.h"
#include "dk_lovasz.h"
#include "dk_convolution.h"
#include "dk_bf16.h"
#include "dk_pooling.h"
#include "dk_skeleton.h"
#include "dk_activation.h"
#include "dk_normalization.h"
#include "dk_optimizer.h"
#include "dk_average.h"
#include "dk_platform.h"

#endif
