// The geometry the C convolution kernels read (dk_convolution.h, `dk_conv_geometry`), built with
// every optional field at its default, so that a field added to the struct does not touch every
// caller.

internal import CDiceKitKernels

extension dk_conv_geometry {
    /// A pass over a padded sample of `hp` rows and `wp` columns per plane, output extents
    /// `output` (D, H, W), kernel extents `kernel` (D, H, W), `cin` → `cout` channels; the other
    /// fields at their defaults (callers set those that differ): unit strides, no up-sampling
    /// (`ud/uh/uw`), the whole output (`yw/yh`), grid tiles where they serve, the kernels' own K
    /// block, no ReLU.
    init(hp: Int, wp: Int, output: [Int], kernel: [Int], cin: Int, cout: Int) {
        self.init()
        (self.hp, self.wp) = (hp, wp)
        (od, oh, ow) = (output[0], output[1], output[2])
        (kd, kh, kw) = (Int32(kernel[0]), Int32(kernel[1]), Int32(kernel[2]))
        (self.cin, self.cout) = (Int32(cin), Int32(cout))
        (sd, sh, sw) = (1, 1, 1)
    }
}
