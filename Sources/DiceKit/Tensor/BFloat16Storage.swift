// The memory of the bfloat16 copies of a training step's activations (BFloat16Activation.swift,
// NN/Layers/KeptActivations.swift).
//
// Copies from 1 MiB up are mappings of their own, never malloc's heap: made while the Float
// tensors they replace are still alive and freed in another order, they would leave holes in the
// heap that the larger tensors later in the step cannot use. A fresh mapping costs the kernel a
// zeroed page per 4 KiB, on the thread that asks for it: for the base-16 U-Net's step, about
// 13 % of the step in page faults and page clearing (AMD EPYC Zen 4, KVM). A freed mapping is
// therefore kept, with its pages, and handed to the next copy of the same size: every step
// makes the same copies in the same order, so from the second step on no copy faults.
//
// Bound: the kept mappings and the live ones together never exceed the most that was ever
// live at once (the step's peak), so keeping them costs no more memory than the step already
// needs at its peak; a copy of a size that none of the kept ones has gives back the oldest kept
// ones first. `BFloat16Storage.releaseKeptMappings()` gives all of them back (end of training).

import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The memory of one bfloat16 copy: from 1 MiB up a mapping of its own (reused from the pool of
/// freed ones when one of the same size is kept, else mapped and populated at once: one call
/// faults in every page, rather than a fault per page as the conversion first writes it);
/// smaller ones from malloc.
final class BFloat16Storage: @unchecked Sendable {
    /// The elements (written once, by the initialiser of `BFloat16Activation`, then only read).
    let pointer: UnsafeMutablePointer<UInt16>
    /// The number of elements.
    let count: Int
    /// Whether `pointer` is a mapping (returned to the pool when freed).
    private let mapped: Bool

    /// Copies from this many bytes up are mappings.
    static let mappedBytes = 1 << 20

    /// Uninitialised memory for `count` elements: a mapping from `mappedBytes` up, unless
    /// `mappable` is false (a copy that lives only until the next layer has read it, evaluation
    /// mode: malloc's heap, as a Float tensor's, with no mapping kept for it after).
    init(count: Int, mappable: Bool = true) {
        self.count = count
        let bytes = Swift.max(1, count) * MemoryLayout<UInt16>.stride
        #if canImport(Glibc)
            if mappable && bytes >= Self.mappedBytes {
                let address = Self.pool.withLock { $0.take(bytes) } ?? Self.map(bytes)
                pointer = address.bindMemory(to: UInt16.self, capacity: Swift.max(1, count))
                mapped = true
                return
            }
        #endif
        pointer = .allocate(capacity: Swift.max(1, count))
        mapped = false
    }

    deinit {
        #if canImport(Glibc)
            if mapped {
                let bytes = Swift.max(1, count) * MemoryLayout<UInt16>.stride
                Self.pool.withLock { $0.give(UnsafeMutableRawPointer(pointer), bytes: bytes) }
                return
            }
        #endif
        pointer.deallocate()
    }

    /// Unmaps every kept mapping (the live ones are not touched); returns the bytes given back.
    @discardableResult
    static func releaseKeptMappings() -> Int {
        pool.withLock { $0.releaseAll() }
    }

    /// Bytes held by kept (freed, not yet reused) mappings, and by live ones (tests).
    static var mappedByteCounts: (kept: Int, live: Int) {
        pool.withLock { ($0.keptBytes, $0.liveBytes) }
    }

    private static let pool = Mutex(MappingPool())

    /// A new populated mapping of `bytes`.
    private static func map(_ bytes: Int) -> UnsafeMutableRawPointer {
        #if canImport(Glibc)
            let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE
            let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, flags, -1, 0)
            guard let address = address, address != MAP_FAILED else {
                preconditionFailure("bfloat16 activation: cannot map \(bytes) bytes (errno \(errno))")
            }
            return address
        #else
            preconditionFailure("bfloat16 activation: mappings need Glibc")
        #endif
    }
}

/// The freed mappings kept for reuse, oldest first, and the byte counts that bound them.
private struct MappingPool {
    private var kept: [(address: UnsafeMutableRawPointer, bytes: Int)] = []
    private(set) var keptBytes = 0
    private(set) var liveBytes = 0
    /// The most bytes ever live at once.
    private var peakBytes = 0

    /// The most recently kept mapping of exactly `bytes`, now live; nil when none is kept (the
    /// caller maps one, counted live here, after the oldest kept ones are unmapped to stay
    /// within the bound).
    mutating func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        liveBytes += bytes
        if let i = kept.lastIndex(where: { $0.bytes == bytes }) {
            keptBytes -= bytes
            return kept.remove(at: i).address
        }
        peakBytes = Swift.max(peakBytes, liveBytes)
        while keptBytes > 0 && liveBytes + keptBytes > peakBytes {
            let oldest = kept.removeFirst()
            keptBytes -= oldest.bytes
            unmap(oldest.address, oldest.bytes)
        }
        return nil
    }

    /// Keeps a freed live mapping for reuse.
    mutating func give(_ address: UnsafeMutableRawPointer, bytes: Int) {
        liveBytes -= bytes
        kept.append((address, bytes))
        keptBytes += bytes
    }

    /// Unmaps every kept mapping; returns the bytes given back.
    mutating func releaseAll() -> Int {
        let released = keptBytes
        for entry in kept { unmap(entry.address, entry.bytes) }
        kept.removeAll()
        keptBytes = 0
        peakBytes = liveBytes
        return released
    }

    private func unmap(_ address: UnsafeMutableRawPointer, _ bytes: Int) {
        #if canImport(Glibc)
            munmap(address, bytes)
        #endif
    }
}
