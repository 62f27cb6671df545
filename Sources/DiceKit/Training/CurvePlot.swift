// curves.svg: training curves as a self-contained SVG (no external dependencies): a loss panel
// (training and validation loss) beside a validation panel (Dice per foreground class and
// their mean, plus mean IoU), sharing the epoch axis, with ticks, grid lines and legends.

/// Draws training curves as SVG.
public enum CurvePlot {
    /// One line of a panel.
    struct Series {
        let name: String
        let points: [(x: Double, y: Double)]
        let colour: String
        let dashed: Bool
    }

    private static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

    /// The SVG document for `epochs` (any order; drawn by epoch number).
    ///
    /// Left panel: "train loss" and, when present, "val loss". Right panel: "Dice c" for each
    /// foreground class c (all classes when there is one), "mean Dice" when there are several,
    /// and "mean IoU" dashed; the y axis spans [0, 1].
    public static func svg(_ epochs: [EpochMetrics]) -> String {
        let sorted = epochs.sorted { $0.epoch < $1.epoch }
        var loss = [Series(name: "train loss", points: sorted.map { (Double($0.epoch), $0.trainLoss) }, colour: palette[0], dashed: false)]
        let validationLoss = sorted.compactMap { e in e.validationLoss.map { (Double(e.epoch), $0) } }
        if !validationLoss.isEmpty { loss.append(Series(name: "val loss", points: validationLoss, colour: palette[1], dashed: false)) }
        var dice = [Series]()
        let classes = sorted.map(\.validationDice.count).max() ?? 0
        let foreground = classes > 1 ? Array(1..<classes) : Array(0..<classes)
        for (i, c) in foreground.enumerated() {
            let points = sorted.compactMap { e in c < e.validationDice.count ? (Double(e.epoch), e.validationDice[c]) : nil }
            dice.append(Series(name: "Dice \(c)", points: points, colour: palette[(i + 2) % palette.count], dashed: false))
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
        let lossValues = loss.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
        let lossRange = niceRange(lossValues.min() ?? 0, lossValues.max() ?? 1, includeZero: true)
        // Loss falls, so its legend goes top right; scores rise, so theirs goes bottom right.
        svg += panel(title: "Loss", series: loss, origin: (0, 0), size: (width / 2, height), yRange: lossRange, epochs: sorted,
                     legendAtTop: true)
        svg += panel(title: "Validation", series: dice, origin: (width / 2, 0), size: (width / 2, height), yRange: (0, 1, 0.1),
                     epochs: sorted, legendAtTop: false)
        return svg + "</svg>\n"
    }

    /// Writes `svg(epochs)` to `path`, atomically.
    ///
    /// - Throws: `DiceKitError.file` when it cannot be written.
    public static func write(_ epochs: [EpochMetrics], to path: String) throws {
        try AtomicFile.write(Array(svg(epochs).utf8), to: path)
    }

    // MARK: - Drawing

    private static func panel(title: String, series: [Series], origin: (Double, Double), size: (Double, Double),
                              yRange: (Double, Double, Double), epochs: [EpochMetrics], legendAtTop: Bool) -> String {
        let (left, top) = (origin.0 + 60, origin.1 + 36)
        let (plotWidth, plotHeight) = (size.0 - 90, size.1 - 86)
        let lastEpoch = Double(max(epochs.last?.epoch ?? 1, 1))
        let firstEpoch = Double(min(epochs.first?.epoch ?? 1, Int(lastEpoch)))
        let xSpan = max(lastEpoch - firstEpoch, 1)
        func x(_ v: Double) -> Double { left + (v - firstEpoch) / xSpan * plotWidth }
        func y(_ v: Double) -> Double { top + plotHeight - (v - yRange.0) / (yRange.1 - yRange.0) * plotHeight }
        var out = "<g>\n"
        out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(origin.1 + 20))\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(title)</text>\n"
        // Horizontal grid and y ticks.
        var tick = yRange.0
        while tick <= yRange.1 + yRange.2 / 2 {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y(tick)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y(tick)))\" stroke=\"#e0e0e0\"/>\n"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\" text-anchor=\"end\">\(label(tick, step: yRange.2))</text>\n"
            tick += yRange.2
        }
        // x ticks: about eight integer epochs.
        let step = max(1, Int((xSpan / 8).rounded(.up)))
        for epoch in stride(from: Int(firstEpoch), through: Int(lastEpoch), by: step) {
            let px = x(Double(epoch))
            out += "<line x1=\"\(f(px))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(px))\" y2=\"\(f(top + plotHeight + 5))\" stroke=\"black\"/>\n"
            out += "<text x=\"\(f(px))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">\(epoch)</text>\n"
        }
        // Axes and axis titles.
        out += "<path d=\"M\(f(left)),\(f(top)) V\(f(top + plotHeight)) H\(f(left + plotWidth))\" fill=\"none\" stroke=\"black\"/>\n"
        out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight + 36))\" text-anchor=\"middle\">epoch</text>\n"
        // Lines (a single point is drawn as a dot).
        for s in series where !s.points.isEmpty {
            let finite = s.points.filter { $0.y.isFinite }
            let path = finite.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(f(x($0.element.x))),\(f(y(min(max($0.element.y, yRange.0), yRange.1))))" }
            out += "<path d=\"\(path.joined(separator: " "))\" fill=\"none\" stroke=\"\(s.colour)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            for point in finite where finite.count == 1 {
                out += "<circle cx=\"\(f(x(point.x)))\" cy=\"\(f(y(point.y)))\" r=\"3\" fill=\"\(s.colour)\"/>\n"
            }
        }
        // Legend, inside the plot at the right.
        let legendTop = legendAtTop ? top + 12 : top + plotHeight - 8 - Double(series.count - 1) * 18
        for (i, s) in series.enumerated() {
            let ly = legendTop + Double(i) * 18
            let lx = left + plotWidth - 110
            out += "<line x1=\"\(f(lx))\" y1=\"\(f(ly - 4))\" x2=\"\(f(lx + 24))\" y2=\"\(f(ly - 4))\" stroke=\"\(s.colour)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            out += "<text x=\"\(f(lx + 30))\" y=\"\(f(ly))\">\(escape(s.name))</text>\n"
        }
        return out + "</g>\n"
    }

    /// A range [lo, hi] with a round tick step covering the values (about five ticks).
    static func niceRange(_ low: Double, _ high: Double, includeZero: Bool) -> (Double, Double, Double) {
        var (lo, hi) = (includeZero ? min(low, 0) : low, high)
        if !(hi > lo) { hi = lo + 1 }
        let raw = (hi - lo) / 5
        let magnitude = Double.pow(10, (Double.log(raw) / Double.log(10)).rounded(.down))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        lo = (lo / step).rounded(.down) * step
        hi = (hi / step).rounded(.up) * step
        return (lo, hi, step)
    }

    private static func label(_ value: Double, step: Double) -> String {
        let decimals = max(0, Int((-Double.log(step) / Double.log(10)).rounded(.up)))
        let scale = Double.pow(10, Double(decimals))
        let rounded = (value * scale).rounded() / scale
        if decimals == 0 { return Int(exactly: rounded).map(String.init) ?? "\(rounded)" }
        var text = "\(rounded)"
        if let dot = text.firstIndex(of: "."), text.distance(from: dot, to: text.endIndex) - 1 > decimals {
            text = String(text[..<text.index(dot, offsetBy: decimals + 1)])
        }
        return text
    }

    private static func f(_ value: Double) -> String { String((value * 10).rounded() / 10) }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences("&", "&amp;").replacingOccurrences("<", "&lt;").replacingOccurrences(">", "&gt;")
    }
}

private extension String {
    func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for character in self { if character == target { out += replacement } else { out.append(character) } }
        return out
    }
}
