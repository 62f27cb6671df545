// Walking the positions of a row-major array by their coordinates (an odometer, last axis
// fastest), for the loops that need both a position's index and its coordinates.

/// Row-major coordinate stepping.
enum RowMajor {
    /// Moves `coordinate` to the next position over `extents`, counting only axes 0...`lastAxis`
    /// (the axes after it are walked by the caller): the last counted axis steps, and an axis that
    /// reaches its extent returns to 0 and carries into the one before. After the last position
    /// every counted axis is 0 again.
    @inline(__always)
    static func advance(_ coordinate: inout [Int], extents: [Int], lastAxis: Int) {
        var axis = lastAxis
        while axis >= 0 {
            coordinate[axis] += 1
            if coordinate[axis] < extents[axis] { return }
            coordinate[axis] = 0
            axis -= 1
        }
    }
}
