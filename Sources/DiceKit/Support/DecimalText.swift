// Fixed-point decimal text for tables and progress lines, without Foundation's formatters (the
// benchmark harness and `dicekit check` both print with it).

/// Numbers as fixed-point decimal text.
public enum DecimalText {
    /// `value` with exactly `digits` fractional digits, rounded half away from zero ("12.500" for
    /// 12.5 with 3 digits); "nan", "inf" or "-inf" when not finite, and likewise for magnitudes of
    /// 1e15 and more, whose digits an `Int` could not hold after scaling.
    ///
    /// - Precondition: `digits` ≥ 0.
    public static func fixed(_ value: Double, digits: Int) -> String {
        precondition(digits >= 0, "DecimalText.fixed: digits \(digits); expected ≥ 0")
        guard value.isFinite, abs(value) < 1e15 else {
            return value.isNaN ? "nan" : value < 0 ? "-inf" : "inf"
        }
        let scale = (0..<digits).reduce(1.0) { acc, _ in acc * 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        let fractionText = String(fraction)
        let padded = String(repeating: "0", count: Swift.max(0, digits - fractionText.count)) + fractionText
        return (value < 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + padded : "")
    }
}
