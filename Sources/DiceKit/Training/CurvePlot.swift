// curves.svg: training curves as a self-contained SVG (no external dependencies): a loss panel
// (training and validation loss) beside a validation panel (Dice per foreground class and
// their mean, plus mean IoU), sharing the epoch axis, with ticks, grid lines and legends.
//
// Any value must draw: a diverging run logs losses of 1e30, 1e300, ∞ and NaN. Non-finite points
// break a line into segments; finite ones are clamped to the axis; every coordinate and label is
// computed in Double and printed without an Int conversion that could trap. The loss axis is
// logarithmic (decades, with 2 and 5 between them when the span is short) whenever every finite
// loss is > 0, linear otherwise.

import Foundation

/// Draws training curves as SVG.
public enum CurvePlot {
    /// One line of a panel.
    struct Series {
        let name: String
        let points: [(x: Double, y: Double)]
        let colour: String
        let dashed: Bool
    }

    private static let palette = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    ]

    /// The SVG document for `epochs` (any order; drawn by epoch number).
    ///
    /// Left panel: "train loss" and, when present, "val loss". Right panel: "Dice c" for each
    /// foreground class c (all classes when there is one), "mean Dice" when there are several,
    /// and "mean IoU" dashed; the y axis spans [0, 1].
    public static func svg(_ epochs: [EpochMetrics]) -> String {
        let sorted = epochs.sorted { $0.epoch < $1.epoch }
        var loss = [
            Series(
                name: "train loss", points: sorted.map { (Double($0.epoch), $0.trainLoss) }, colour: palette[0],
                dashed: false)
        ]
        let validationLoss = sorted.compactMap { e in e.validationLoss.map { (Double(e.epoch), $0) } }
        if !validationLoss.isEmpty {
            loss.append(Series(name: "val loss", points: validationLoss, colour: palette[1], dashed: false))
        }
        var dice = [Series]()
        let classes = sorted.map(\.validationDice.count).max() ?? 0
        let foreground = classes > 1 ? Array(1..<classes) : Array(0..<classes)
        for (i, c) in foreground.enumerated() {
            let points = sorted.compactMap { e in
                c < e.validationDice.count ? (Double(e.epoch), e.validationDice[c]) : nil
            }
            dice.append(
                Series(name: "Dice \(c)", points: points, colour: palette[(i + 2) % palette.count], dashed: false))
        }
        if foreground.count > 1 {
            let points = sorted.compactMap { e in e.validationDiceForeground.map { (Double(e.epoch), $0) } }
            dice.append(Series(name: "mean Dice", points: points, colour: "#000000", dashed: false))
        }
        let iou = sorted.compactMap { e in e.validationIoUForeground.map { (Double(e.epoch), $0) } }
        if !iou.isEmpty { dice.append(Series(name: "mean IoU", points: iou, colour: "#7f7f7f", dashed: true)) }

        let (width, height) = (960.0, 400.0)
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """
        let lossAxis = Axis.forLoss(loss.flatMap { $0.points.map(\.y) })
        // Loss falls, so its legend goes top right; scores rise, so theirs goes bottom right.
        svg += panel(
            title: "Loss", series: loss, origin: (0, 0), size: (width / 2, height), axis: lossAxis, epochs: sorted,
            legendAtTop: true)
        svg += panel(
            title: "Validation", series: dice, origin: (width / 2, 0), size: (width / 2, height),
            axis: Axis.linear(0, 1, step: 0.1), epochs: sorted, legendAtTop: false)
        return svg + "</svg>\n"
    }

    /// Writes `svg(epochs)` to `path`, atomically.
    ///
    /// - Throws: `DiceKitError.file` when it cannot be written.
    public static func write(_ epochs: [EpochMetrics], to path: String) throws {
        try AtomicFile.write(Array(svg(epochs).utf8), to: path)
    }

    // MARK: - Drawing

    private static func panel(
        title: String, series: [Series], origin: (Double, Double), size: (Double, Double),
        axis: Axis, epochs: [EpochMetrics], legendAtTop: Bool
    ) -> String {
        let (left, top) = (origin.0 + 60, origin.1 + 36)
        let (plotWidth, plotHeight) = (size.0 - 90, size.1 - 86)
        let lastEpoch = Double(max(epochs.last?.epoch ?? 1, 1))
        let firstEpoch = Double(min(epochs.first?.epoch ?? 1, Int(lastEpoch)))
        let xSpan = max(lastEpoch - firstEpoch, 1)
        func x(_ v: Double) -> Double { left + (v - firstEpoch) / xSpan * plotWidth }
        func y(_ v: Double) -> Double { top + plotHeight - axis.fraction(v) * plotHeight }
        var out = "<g>\n"
        out +=
            "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(origin.1 + 20))\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(title)</text>\n"
        // Horizontal grid and y ticks.
        for tick in axis.ticks {
            out +=
                "<line x1=\"\(f(left))\" y1=\"\(f(y(tick.value)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y(tick.value)))\" stroke=\"#e0e0e0\"/>\n"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y(tick.value) + 4))\" text-anchor=\"end\">\(tick.label)</text>\n"
        }
        if axis.logarithmic {
            out +=
                "<text x=\"\(f(left - 6))\" y=\"\(f(top - 8))\" text-anchor=\"end\" font-size=\"10\">log scale</text>\n"
        }
        // x ticks: about eight integer epochs.
        let step = max(1, Int((xSpan / 8).rounded(.up)))
        for epoch in stride(from: Int(firstEpoch), through: Int(lastEpoch), by: step) {
            let px = x(Double(epoch))
            out +=
                "<line x1=\"\(f(px))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(px))\" y2=\"\(f(top + plotHeight + 5))\" stroke=\"black\"/>\n"
            out += "<text x=\"\(f(px))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">\(epoch)</text>\n"
        }
        // Axes and axis titles.
        out +=
            "<path d=\"M\(f(left)),\(f(top)) V\(f(top + plotHeight)) H\(f(left + plotWidth))\" fill=\"none\" stroke=\"black\"/>\n"
        out +=
            "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight + 36))\" text-anchor=\"middle\">epoch</text>\n"
        // Lines (a single point is drawn as a dot).
        for s in series where !s.points.isEmpty {
            // A non-finite value ends a segment; the next finite one starts a new one.
            var path = [String]()
            var segment = 0
            var finite = 0
            for point in s.points {
                guard point.y.isFinite else {
                    segment = 0
                    continue
                }
                path.append("\(segment == 0 ? "M" : "L")\(f(x(point.x))),\(f(y(point.y)))")
                segment += 1
                finite += 1
            }
            if !path.isEmpty {
                out +=
                    "<path d=\"\(path.joined(separator: " "))\" fill=\"none\" stroke=\"\(s.colour)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            }
            for point in s.points where point.y.isFinite && finite == 1 {
                out += "<circle cx=\"\(f(x(point.x)))\" cy=\"\(f(y(point.y)))\" r=\"3\" fill=\"\(s.colour)\"/>\n"
            }
        }
        // Legend, inside the plot at the right.
        let legendTop = legendAtTop ? top + 12 : top + plotHeight - 8 - Double(series.count - 1) * 18
        for (i, s) in series.enumerated() {
            let ly = legendTop + Double(i) * 18
            let lx = left + plotWidth - 110
            out +=
                "<line x1=\"\(f(lx))\" y1=\"\(f(ly - 4))\" x2=\"\(f(lx + 24))\" y2=\"\(f(ly - 4))\" stroke=\"\(s.colour)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            out += "<text x=\"\(f(lx + 30))\" y=\"\(f(ly))\">\(escape(s.name))</text>\n"
        }
        return out + "</g>\n"
    }

    /// A range [lo, hi] with a round tick step covering the values (about five ticks). Values
    /// are clamped to ±1e300 first, so the span and the step stay finite.
    static func niceRange(_ low: Double, _ high: Double, includeZero: Bool) -> (Double, Double, Double) {
        let limit = 1e300
        var (lo, hi) = (low.isNaN ? 0 : min(max(low, -limit), limit), high.isNaN ? 1 : min(max(high, -limit), limit))
        if includeZero { lo = min(lo, 0) }
        if !(hi > lo) { hi = lo + max(1, abs(lo) * 1e-6) }
        let raw = (hi - lo) / 5
        let magnitude = Double.pow(10, (Double.log(raw) / Double.log(10)).rounded(.down))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        lo = (lo / step).rounded(.down) * step
        hi = (hi / step).rounded(.up) * step
        return (lo, hi, step)
    }

    /// A y axis: where a value goes (0 at the bottom, 1 at the top) and the labelled ticks.
    struct Axis {
        let low: Double
        let high: Double
        let logarithmic: Bool
        let ticks: [(value: Double, label: String)]

        /// A linear axis from `low` to `high` with a tick every `step`.
        static func linear(_ low: Double, _ high: Double, step: Double) -> Axis {
            let ratio = ((high - low) / step).rounded()
            let count = ratio.isFinite ? Int(min(max(ratio, 0), 100)) : 0
            let ticks = (0...max(count, 0)).map { i -> (Double, String) in
                let value = low + Double(i) * step
                return (value, CurvePlot.label(value, step: step))
            }
            return Axis(low: low, high: high, logarithmic: false, ticks: ticks)
        }

        /// The loss axis: logarithmic when every finite value is > 0, else linear with zero included.
        static func forLoss(_ values: [Double]) -> Axis {
            let finite = values.filter(\.isFinite)
            guard let smallest = finite.min(), let largest = finite.max(), smallest > 0 else {
                let (lo, hi, step) = CurvePlot.niceRange(finite.min() ?? 0, finite.max() ?? 1, includeZero: true)
                return linear(lo, hi, step: step)
            }
            // 10^308 is the largest power of ten a Double holds; larger values clamp to the top.
            var lo = min(log10(smallest).rounded(.down), 307)
            var hi = min(log10(largest).rounded(.up), 308)
            if hi <= lo { hi = lo + 1 }
            let decadesPerTick = [1.0, 2, 5, 10, 20, 50, 100].first { $0 >= (hi - lo) / 6 } ?? 100
            lo = (lo / decadesPerTick).rounded(.down) * decadesPerTick
            hi = min(lo + ((hi - lo) / decadesPerTick).rounded(.up) * decadesPerTick, 308)
            var ticks = [(value: Double, label: String)]()
            var decade = lo
            while decade <= hi {
                ticks.append((pow(10, decade), decadeLabel(decade)))
                if hi - lo <= 2, decade < hi {
                    for m in [2.0, 5.0] {
                        ticks.append((m * pow(10, decade), CurvePlot.label(m * pow(10, decade), step: pow(10, decade))))
                    }
                }
                decade += decadesPerTick
            }
            return Axis(low: pow(10, lo), high: pow(10, hi), logarithmic: true, ticks: ticks)
        }

        /// The position of `value`, clamped to [0, 1] (NaN maps to 0).
        func fraction(_ value: Double) -> Double {
            let t: Double
            if logarithmic {
                t = value > 0 ? (log10(value) - log10(low)) / (log10(high) - log10(low)) : 0
            } else {
                t = (value - low) / (high - low)
            }
            return t.isNaN ? 0 : min(max(t, 0), 1)
        }

        /// "0.001", "0.1", "1", "100", "1e+06": 10^k in plain decimals for −4 ≤ k ≤ 5.
        private static func decadeLabel(_ k: Double) -> String {
            (-4...5).contains(k)
                ? CurvePlot.label(pow(10, k), step: pow(10, min(k, 0))) : String(format: "1e%+03.0f", k)
        }
    }

    /// `value` with as many decimals as `step` needs (0.25 → two, 0.5 → one), trailing zeros
    /// dropped ("0.5", "0.75", "1"); "%.3g" for magnitudes ≥ 1e15 or steps below 1e-12.
    static func label(_ value: Double, step: Double) -> String {
        guard value.isFinite, step.isFinite, step > 0 else { return "\(value)" }
        let v = value + 0.0 // no "-0"
        guard abs(v) < 1e15,
            let decimals = (0...12).first(where: { d in
                let scaled = step * pow(10, Double(d))
                return abs(scaled - scaled.rounded()) <= 1e-6 * max(1, scaled)
            })
        else { return String(format: "%.3g", v) }
        var text = String(format: "%.\(decimals)f", v)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }

    private static func f(_ value: Double) -> String { String((value * 10).rounded() / 10) }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences("&", "&amp;").replacingOccurrences("<", "&lt;").replacingOccurrences(">", "&gt;")
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for character in self { if character == target { out += replacement } else { out.append(character) } }
        return out
    }
}
