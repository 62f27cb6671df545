// The soft skeleton's C kernel (skeleton/soft_skeleton.c, through SoftSkeleton+CKernel.swift)
// against the reference loops of SoftSkeleton.swift: the same skeleton bit for bit and the same
// vector-Jacobian products (the kernel's two cotangents at once against two reference backward
// passes) in Float and Double, 2-D and 3-D, on images full of ties (values from a set of three,
// so the tie rules decide most windows) and on continuous ones, at every instruction set the CPU
// runs.

import XCTest

@testable import DiceKit

final class SoftSkeletonKernelTests: XCTestCase {
    /// The kernel's skeleton and products, and the reference's, for one image.
    func compare<T: BLASScalar>(
        _: T.Type, spatial: [Int], iterations: Int, ties: Bool, seed: UInt64, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        let skeleton = SoftSkeleton(spatial: spatial, iterations: iterations)!
        let n = skeleton.count
        var generator = SeededGenerator(seed: seed)
        let image = (0..<n).map { _ in
            ties ? T(Int(generator.next() % 3)) / 2 : T(Double(generator.next() % 1_000_003) / 1_000_003)
        }
        let first = (0..<n).map { _ in T(Double(generator.next() % 2001) / 1000 - 1) }
        let second = (0..<n).map { _ in T(Int(generator.next() % 2)) }
        var cotangents = [T](repeating: 0, count: 2 * n)
        for q in 0..<n { (cotangents[2 * q], cotangents[2 * q + 1]) = (first[q], second[q]) }
        var kernel = [T](repeating: -1, count: n)
        var plain = [T](repeating: -1, count: n)
        var products = [T](repeating: -1, count: 2 * n)
        var work = [T](repeating: 0, count: skeleton.workspaceCount(gradient: true))
        var integers = [Int32](repeating: 0, count: skeleton.workspaceIntegers)
        var reference = [T](repeating: -1, count: n)
        var referenceFirst = [T](repeating: 0, count: n)
        var referenceSecond = [T](repeating: 0, count: n)
        image.withUnsafeBufferPointer { v in
            work.withUnsafeMutableBufferPointer { w in
                kernel.withUnsafeMutableBufferPointer { skeleton.kernelSkeleton(v, into: $0, work: w) }
                cotangents.withUnsafeBufferPointer { c in
                    plain.withUnsafeMutableBufferPointer { s in
                        products.withUnsafeMutableBufferPointer { p in
                            integers.withUnsafeMutableBufferPointer { i in
                                skeleton.kernelSkeletonProducts(
                                    v, cotangents: c, skeleton: s, products: p, work: w, integers: i)
                            }
                        }
                    }
                }
            }
            reference.withUnsafeMutableBufferPointer { skeleton.skeleton(v, into: $0) }
            first.withUnsafeBufferPointer { d in
                referenceFirst.withUnsafeMutableBufferPointer { skeleton.skeletonBackward(v, dSkeleton: d, into: $0) }
            }
            second.withUnsafeBufferPointer { d in
                referenceSecond.withUnsafeMutableBufferPointer {
                    skeleton.skeletonBackward(v, dSkeleton: d, into: $0)
                }
            }
        }
        let label = "\(T.self) \(spatial) K \(iterations) ties \(ties) \(InstructionSet.current)"
        XCTAssertEqual(kernel, reference, "skeleton \(label)", file: file, line: line)
        XCTAssertEqual(plain, reference, "skeleton with the gradient \(label)", file: file, line: line)
        XCTAssertEqual(
            (0..<n).map { products[2 * $0] }, referenceFirst, "first product \(label)", file: file, line: line)
        XCTAssertEqual(
            (0..<n).map { products[2 * $0 + 1] }, referenceSecond, "second product \(label)", file: file, line: line)
        if n > 1 { // a single element is its own erosion and dilation: δ = 0, no gradient
            XCTAssertGreaterThan(
                referenceFirst.map { abs(Double($0)) }.max()!, 0, "vacuous \(label)", file: file, line: line)
        }
    }

    func testKernelMatchesTheReferenceLoops() throws {
        let shapes: [([Int], Int)] = [
            ([7, 9], 3), ([16, 13], 5), ([1, 12], 2), ([11, 1], 2), ([1, 1], 1), ([5, 6, 7], 3), ([1, 8, 9], 2),
            ([4, 1, 5], 2), ([3, 4], 0),
        ]
        for isa in InstructionSet.available {
            try KernelDispatch.withInstructionSet(isa) {
                for (index, (spatial, k)) in shapes.enumerated() {
                    for ties in [true, false] {
                        let seed = UInt64(100 + index)
                        compare(Float.self, spatial: spatial, iterations: k, ties: ties, seed: seed)
                        compare(Double.self, spatial: spatial, iterations: k, ties: ties, seed: seed)
                    }
                }
            }
        }
    }

    /// The forward pass kept for the gradient grows with the iterations: a size and K whose
    /// workspace passes the limit are refused with one line naming the iterations that fit.
    func testWorkspaceBeyondTheLimitIsRefused() throws {
        let x = Tensor<Float>(shape: [1, 1024, 1024, 1])
        let labels = try LabelMap(shape: [1, 1024, 1024], labels: [Int](repeating: 0, count: 1024 * 1024))
        let loss = ClDiceLoss(iterations: 1000)
        XCTAssertThrowsError(try loss.evaluate(x, target: .labels(labels), gradient: true)) { error in
            XCTAssertTrue("\(error)".contains("clDice iterations 1000 on [1024, 1024] images"), "\(error)")
            XCTAssertTrue("\(error)".contains("expected at most 165 iterations"), "\(error)")
        }
        XCTAssertNoThrow(
            try ClDiceLoss(iterations: 165).checkWorkspace(spatial: [1024, 1024], Float.self, gradient: true))
    }
}
