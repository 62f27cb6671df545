// Paints one synthetic polyp image; see SyntheticPolyps.swift for the recipe. Coordinates are
// pixels; u = x/W and v = y/H index the noise fields.

#if canImport(Glibc)
    import Glibc
#endif

/// A polyp: a perturbed, rotated ellipse with its colour and highlights.
private struct Polyp {
    var cx: Float, cy: Float, radius: Float
    var cosT: Float, sinT: Float, aspect: Float
    typealias Harmonic = (amplitude: Float, cosP: Float, sinP: Float)
    /// Radius perturbation r(φ) = 1 + Σₖ aₖ·cos(kφ + pₖ) for k = 2, 3, 4.
    var harmonics: (Harmonic, Harmonic, Harmonic)
    var tint: (Float, Float, Float)
    var highlights: [(x: Float, y: Float, sigma: Float, strength: Float)]

    /// Normalised radial distance ρ (ρ < 1 inside) of pixel (x, y).
    @inline(__always)
    func rho(_ x: Float, _ y: Float) -> Float {
        let (dx, dy) = (x - cx, y - cy)
        let a = (dx * cosT + dy * sinT) / aspect
        let b = (-dx * sinT + dy * cosT) * aspect
        let d = (a * a + b * b).squareRoot()
        guard d > 1e-6 else { return 0 }
        // cos(kφ + p) from cos φ, sin φ without trigonometric calls.
        let (c1, s1) = (a / d, b / d)
        let (c2, s2) = (c1 * c1 - s1 * s1, 2 * s1 * c1)
        let (c3, s3) = (c2 * c1 - s2 * s1, s2 * c1 + c2 * s1)
        let (c4, s4) = (c2 * c2 - s2 * s2, 2 * s2 * c2)
        let (h2, h3, h4) = harmonics
        let r =
            1 + h2.amplitude * (c2 * h2.cosP - s2 * h2.sinP) + h3.amplitude * (c3 * h3.cosP - s3 * h3.sinP)
            + h4.amplitude * (c4 * h4.cosP - s4 * h4.sinP)
        return d / (radius * r)
    }
}

/// An instrument: a capsule from `start` along `direction`.
private struct Instrument {
    var sx: Float, sy: Float, dx: Float, dy: Float, length: Float, halfWidth: Float, grey: Float
}

struct PolypPainter {
    private var generator: SeededGenerator
    private let configuration: SyntheticPolypConfiguration

    init(seed: UInt64, configuration: SyntheticPolypConfiguration) {
        generator = SeededGenerator(seed: seed)
        self.configuration = configuration
    }

    mutating func paint(pixels: UnsafeMutableBufferPointer<Float>, labels: UnsafeMutableBufferPointer<Int32>) {
        let (h, w) = (configuration.height, configuration.width)
        let size = Float(min(h, w))
        // Mucosa.
        let base = (
            syntheticUniform(0.70, 0.88, &generator), syntheticUniform(0.30, 0.44, &generator),
            syntheticUniform(0.26, 0.40, &generator)
        )
        let shading = ValueNoise(cells: 3, generator: &generator)
        let mottling = ValueNoise(cells: 7, generator: &generator)
        let fine = ValueNoise(cells: 24, generator: &generator)
        let veins = ValueNoise(cells: 5, generator: &generator)
        let veinStrength = syntheticUniform(0.15, 0.4, &generator)
        let (vx, vy) = (
            syntheticUniform(0.35, 0.65, &generator) * Float(w), syntheticUniform(0.35, 0.65, &generator) * Float(h)
        )
        let vignette = syntheticUniform(0.35, 0.7, &generator)
        let polypTexture = ValueNoise(cells: 20, generator: &generator)
        let pits = ValueNoise(cells: 44, generator: &generator)
        // Objects.
        var polyps = [Polyp]()
        if generator.nextUnit() >= configuration.emptyFraction {
            let r = generator.nextUnit()
            let count = r < 0.5 ? 1 : (r < 0.8 ? 2 : 3)
            for i in 0..<count { polyps.append(makePolyp(first: i == 0, base: base, width: w, height: h)) }
        }
        var glints = [(x: Float, y: Float, sigma: Float, strength: Float)]()
        for _ in 0..<Int(generator.next() % 4) {
            glints.append(
                (
                    syntheticUniform(0, Double(w), &generator), syntheticUniform(0, Double(h), &generator),
                    syntheticUniform(0.004, 0.012, &generator) * size, syntheticUniform(0.4, 0.9, &generator)
                ))
        }
        var instrument: Instrument?
        if configuration.classes == 3 && generator.nextUnit() < configuration.instrumentFraction {
            instrument = makeInstrument(width: w, height: h)
        }

        for y in 0..<h {
            for x in 0..<w {
                let (fx, fy) = (Float(x) + 0.5, Float(y) + 0.5)
                let (u, v) = (fx / Float(w), fy / Float(h))
                let light = 0.72 + 0.28 * shading(u, v) + 0.12 * (mottling(u, v) - 0.5)
                let (ex, ey) = ((fx - vx) / Float(w), (fy - vy) / Float(h))
                let vig = max(0.15, 1 - vignette * 2 * (ex * ex + ey * ey))
                let texture = 1 + 0.1 * (fine(u, v) - 0.5)
                let ridge = 1 - abs(2 * veins(u, v) - 1)
                let r2 = ridge * ridge
                let r4 = r2 * r2
                let vessel = veinStrength * r4 * r4 * r4
                var r = base.0 * light * vig * texture * (1 - 0.3 * vessel)
                var g = base.1 * light * vig * texture * (1 - 0.55 * vessel)
                var b = base.2 * light * vig * texture * (1 - 0.45 * vessel)
                var label: Int32 = 0
                for glint in glints {
                    let (gx, gy) = (fx - glint.x, fy - glint.y)
                    let d2 = (gx * gx + gy * gy) / (2 * glint.sigma * glint.sigma)
                    if d2 < 9 {
                        let s = glint.strength * expf(-d2)
                        (r, g, b) = (r + (1 - r) * s, g + (1 - g) * s, b + (1 - b) * s)
                    }
                }
                for polyp in polyps {
                    let reach = polyp.radius * 1.6 + 3
                    guard abs(fx - polyp.cx) < reach, abs(fy - polyp.cy) < reach else { continue }
                    let rho = polyp.rho(fx, fy)
                    // Shadow rim just outside the boundary.
                    let outside = (rho - 1) * polyp.radius / (0.15 * polyp.radius + 2)
                    if outside > 0 && outside < 1 {
                        let dark = 1 - 0.25 * (1 - outside)
                        (r, g, b) = (r * dark, g * dark, b * dark)
                    }
                    let alpha = min(max((1 - rho) * polyp.radius / 1.5 + 0.5, 0), 1)
                    guard alpha > 0 else { continue }
                    if rho < 1 { label = 1 }
                    let z = (max(0, 1 - rho * rho)).squareRoot()
                    let dome = 0.68 + 0.42 * z
                    let surface = 1 + 0.14 * (polypTexture(u, v) - 0.5) + 0.1 * (pits(u, v) - 0.5)
                    let ambient = 0.55 + 0.45 * vig
                    var (pr, pg, pb) = (
                        polyp.tint.0 * light * ambient * dome * surface,
                        polyp.tint.1 * light * ambient * dome * surface,
                        polyp.tint.2 * light * ambient * dome * surface
                    )
                    for spot in polyp.highlights {
                        let (sx, sy) = (fx - spot.x, fy - spot.y)
                        let d2 = (sx * sx + sy * sy) / (2 * spot.sigma * spot.sigma)
                        if d2 < 9 {
                            let s = spot.strength * expf(-d2)
                            (pr, pg, pb) = (pr + (1 - pr) * s, pg + (1 - pg) * s, pb + (1 - pb) * s)
                        }
                    }
                    (r, g, b) = (r + (pr - r) * alpha, g + (pg - g) * alpha, b + (pb - b) * alpha)
                }
                if let tool = instrument {
                    let (px, py) = (fx - tool.sx, fy - tool.sy)
                    let t = min(max(px * tool.dx + py * tool.dy, 0), tool.length)
                    let (qx, qy) = (px - t * tool.dx, py - t * tool.dy)
                    let q = (qx * qx + qy * qy).squareRoot()
                    let alpha = min(max((tool.halfWidth - q) + 0.5, 0), 1)
                    if alpha > 0 {
                        if q < tool.halfWidth { label = 2 }
                        let across = min(q / tool.halfWidth, 1)
                        let side = (qx * -tool.dy + qy * tool.dx) >= 0 ? across : -across
                        let cylinder = 0.55 + 0.45 * (max(0, 1 - across * across)).squareRoot()
                        let streak = 0.35 * expf(-((side - 0.35) * (side - 0.35)) / 0.02)
                        let grey = tool.grey * cylinder * (0.75 + 0.25 * vig) + streak
                        (r, g, b) = (r + (grey - r) * alpha, g + (grey - g) * alpha, b + (grey + 0.03 - b) * alpha)
                    }
                }
                let pixel = (y * w + x) * 3
                pixels[pixel] = min(max(r + syntheticUniform(-0.015, 0.015, &generator), 0), 1)
                pixels[pixel + 1] = min(max(g + syntheticUniform(-0.015, 0.015, &generator), 0), 1)
                pixels[pixel + 2] = min(max(b + syntheticUniform(-0.015, 0.015, &generator), 0), 1)
                labels[y * w + x] = label
            }
        }
    }

    private mutating func makePolyp(first: Bool, base: (Float, Float, Float), width: Int, height: Int) -> Polyp {
        let area = Double(width * height)
        let (low, high) = (0.004, first ? 0.30 : 0.08)
        let fraction = Double.exp(Double.log(low) + (Double.log(high) - Double.log(low)) * generator.nextUnit())
        let radius = Float((fraction * area / Double.pi).squareRoot())
        let margin = min(radius * 0.7, Float(min(width, height)) / 2 - 1)
        let cx = syntheticUniform(Double(margin), Double(Float(width) - margin), &generator)
        let cy = syntheticUniform(Double(margin), Double(Float(height) - margin), &generator)
        let angle = syntheticUniform(0, Double.pi, &generator)
        func harmonic() -> Polyp.Harmonic {
            let phase = syntheticUniform(0, 2 * Double.pi, &generator)
            return (syntheticUniform(0, 0.08, &generator), cosf(phase), sinf(phase))
        }
        let harmonics = (harmonic(), harmonic(), harmonic())
        // Redder and more saturated than the mucosa, or (30%) paler and whitish.
        let tint: (Float, Float, Float)
        if generator.nextUnit() < 0.3 {
            let mix = syntheticUniform(0.35, 0.55, &generator)
            tint = (base.0 + (0.95 - base.0) * mix, base.1 + (0.72 - base.1) * mix, base.2 + (0.66 - base.2) * mix)
        } else {
            tint = (
                min(base.0 * syntheticUniform(1.05, 1.2, &generator), 1),
                base.1 * syntheticUniform(0.5, 0.72, &generator),
                base.2 * syntheticUniform(0.55, 0.8, &generator)
            )
        }
        // The main highlight faces a random light direction; up to two smaller ones.
        var highlights = [(x: Float, y: Float, sigma: Float, strength: Float)]()
        let lightAngle = syntheticUniform(0, 2 * Double.pi, &generator)
        let offset = syntheticUniform(0.2, 0.5, &generator) * radius
        highlights.append(
            (
                cx + offset * cosf(lightAngle), cy + offset * sinf(lightAngle),
                max(0.6, syntheticUniform(0.06, 0.14, &generator) * radius), syntheticUniform(0.6, 0.95, &generator)
            ))
        for _ in 0..<Int(generator.next() % 3) {
            let (a, d) = (syntheticUniform(0, 2 * Double.pi, &generator), syntheticUniform(0, 0.7, &generator) * radius)
            highlights.append(
                (
                    cx + d * cosf(a), cy + d * sinf(a), max(0.5, syntheticUniform(0.03, 0.07, &generator) * radius),
                    syntheticUniform(0.4, 0.8, &generator)
                ))
        }
        return Polyp(
            cx: cx, cy: cy, radius: radius, cosT: cosf(angle), sinT: sinf(angle),
            aspect: syntheticUniform(0.75, 1.3, &generator), harmonics: harmonics, tint: tint, highlights: highlights)
    }

    private mutating func makeInstrument(width: Int, height: Int) -> Instrument {
        let (w, h) = (Float(width), Float(height))
        let side = generator.next() % 4
        let along = syntheticUniform(0.15, 0.85, &generator)
        let (sx, sy, inward): (Float, Float, Float)
        switch side {
        case 0: (sx, sy, inward) = (along * w, 0, Float.pi / 2) // top edge, pointing down
        case 1: (sx, sy, inward) = (along * w, h, -Float.pi / 2) // bottom edge, pointing up
        case 2: (sx, sy, inward) = (0, along * h, 0) // left edge, pointing right
        default: (sx, sy, inward) = (w, along * h, Float.pi) // right edge, pointing left
        }
        let angle = inward + syntheticUniform(-0.6, 0.6, &generator)
        let size = min(w, h)
        return Instrument(
            sx: sx, sy: sy, dx: cosf(angle), dy: sinf(angle), length: syntheticUniform(0.3, 0.7, &generator) * size,
            halfWidth: syntheticUniform(0.04, 0.07, &generator) * size, grey: syntheticUniform(0.5, 0.72, &generator))
    }
}
