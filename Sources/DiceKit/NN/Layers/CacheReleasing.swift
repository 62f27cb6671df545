// Layers that keep tensors from their forward pass for the backward pass, and can drop them.
//
// An evaluation pass (validation, inference) has no backward pass, yet a layer's forward keeps
// what its backward would need (a convolution its input, an activation its output, a
// normalisation x̂). Left in place, those tensors stay resident until the next training step
// overwrites them: at 512² the head's kept input alone is 128 MiB for a batch of 8.

/// A layer whose `forward` keeps tensors for `backward`, which `releaseCache()` drops.
protocol CacheReleasing: AnyObject {
    /// Forgets what the last forward pass kept (a following `backward` then throws, as before
    /// any forward pass).
    func releaseCache()
}

extension ConvolutionLayer: CacheReleasing {
    func releaseCache() {
        keptInput.keep(nil)
        cachedConvolution = nil
    }
}

extension SequentialLayer: CacheReleasing {
    func releaseCache() {
        for case let layer as CacheReleasing in layers { layer.releaseCache() }
    }
}
