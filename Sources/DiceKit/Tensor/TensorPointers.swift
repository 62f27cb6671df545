// Scoped access to the elements of several tensors at once, for the kernels that read them.

/// Calls `body` with the base address of an optional tensor's elements, or nil.
@inline(__always)
func withOptionalPointer<T: BLASScalar, R>(_ tensor: Tensor<T>?, _ body: (UnsafePointer<T>?) -> R) -> R {
    guard let tensor = tensor else { return body(nil) }
    return tensor.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Calls `body` with the base addresses of the tensors' elements, in order, all valid for the call.
func withPointers<T: BLASScalar, R>(_ tensors: ArraySlice<Tensor<T>>, _ body: ([UnsafePointer<T>]) -> R) -> R {
    guard let first = tensors.first else { return body([]) }
    return first.withUnsafeBufferPointer { p in
        withPointers(tensors.dropFirst()) { rest in body([p.baseAddress!] + rest) }
    }
}
