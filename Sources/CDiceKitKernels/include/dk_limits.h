// Limits shared by the C kernels and their Swift callers (Sources/DiceKit reads them through
// the module import, so that a size fixed here is never restated as a literal there).
#ifndef DK_LIMITS_H
#define DK_LIMITS_H

/// The most channels one Dice-loss kernel call takes: dk_stats holds this many sums per
/// statistic, and the kernels keep per-channel registers and buffers of this size. Wider
/// predictions run the Swift passes.
#define DK_MAX_CHANNELS 16

/// Positions whose Float partial sums a Dice-loss kernel accumulates before adding them into
/// the double sums of dk_stats (Docs/DiceMath.md, "Accumulation").
#define DK_ACCUMULATION_BLOCK 512

/// Channel multiple of the direct convolution kernels: output channels (and, except for a
/// first layer with kw·cin a multiple of 3, input channels) come in vectors of this many floats.
#define DK_CONV_CHANNEL_MULTIPLE 16

/// Output channels of the widest register tile of the direct kernels (four vectors): the
/// weight-gradient entry points that take a channel range [co0, co1) step through it in blocks
/// of this many, and co0 must be a multiple of it.
#define DK_CONV_CHANNEL_BLOCK 64

/// Zeroed positions (of cin floats) the caller provides past each padded sample beyond the
/// kernel width: the forward kernels read up to kw + 24 positions past it.
#define DK_CONV_SLACK_POSITIONS 32

#endif
