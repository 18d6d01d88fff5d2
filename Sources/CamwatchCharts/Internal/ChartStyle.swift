import CamwatchMonitor
import Foundation

/// The colours and fonts both charts share: a light background, dark text, one colour per meaning.
enum Palette {
    static let background = Color(255, 255, 255)
    static let text = Color(33, 33, 33)
    static let secondaryText = Color(97, 97, 97)
    static let frame = Color(189, 189, 189)
    static let grid = Color(232, 232, 232)
    static let missingCell = Color(204, 204, 204)
    static let missingText = Color(84, 84, 84)

    static let meanDrift = Color(31, 100, 180)
    static let maxDrift = Color(150, 190, 230)
    static let threshold = Color(217, 95, 2)
    static let converged = Color(27, 140, 60)
    static let failed = Color(200, 30, 30)
    static let learningRate = Color(120, 60, 170)
    static let metric = Color(0, 140, 140)
    /// Heatmap metrics (energy on the objects, Average Drop): brown, apart from every other series.
    static let heatmapMetric = Color(140, 80, 20)
    /// Weight drift, its reference level and settle bound: magenta, apart from the saliency series.
    static let weightDrift = Color(190, 40, 130)
    /// Batch-norm statistics drift: a lighter magenta.
    static let statisticsDrift = Color(225, 140, 190)
    /// The background of the checkpoints at which the run was collapsed (a light tint of its state colour).
    static let collapsedBackground = Color(240, 230, 245)

    /// The band under a timeline column showing the state after that checkpoint.
    static func state(_ state: ConvergenceState) -> Color {
        switch state {
        case .warmingUp: Color(224, 224, 224)
        case .changing: Color(254, 217, 142)
        case .stable: Color(161, 217, 155)
        // Violet, apart from the warm-to-green path of a training run: a dead model is no phase of it.
        case .collapsed: Color(194, 165, 207)
        // The failure colour, lighter: NaN weights are a failure of training.
        case .diverged: Color(240, 160, 160)
        }
    }
}

enum Fonts {
    static let title = Font(size: 15, bold: true)
    static let body = Font(size: 12)
    static let bodyBold = Font(size: 12, bold: true)
    static let small = Font(size: 11)
    static let smallBold = Font(size: 11, bold: true)
}

/// Words for checkpoints, states and numbers, shared by both charts.
enum ChartText {
    /// The model as a title: `resnet18, layer layer4` (a spec-file model has no arch).
    static func model(_ model: Report.Model) -> String {
        (model.arch.map { "\($0), " } ?? "") + "layer \(model.layer), \(model.methodName)"
    }

    /// What a checkpoint is called in a column header: `epoch 12`, else `step 4800`, else its file name.
    static func checkpoint(_ entry: Report.CheckpointEntry) -> String {
        if let epoch = entry.epoch { return "epoch \(epoch)" }
        if let step = entry.step { return "step \(step)" }
        return entry.name
    }

    /// The state as the report's JSON spells it, with a space: `warming up`, `changing`, `stable`.
    static func state(_ state: ConvergenceState) -> String {
        state.rawValue.replacingOccurrences(of: "-", with: " ")
    }

    /// A drift value with three decimals (`0.034`), or two significant digits below 0.01 (`0.0049`).
    static func drift(_ value: Double) -> String {
        guard value.isFinite else { return "n/a" }
        if abs(value) < 0.01 { return String(format: "%.2g", value) }
        return String(format: "%.3f", value)
    }

    /// A threshold as the user wrote it (`0.02`, `0.005`): up to four significant digits.
    static func threshold(_ value: Double) -> String {
        String(format: "%.4g", value)
    }

    /// `count` followed by `noun`, pluralised with an `s`.
    static func count(_ count: Int, _ noun: String) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }
}

extension Canvas {
    /// `text` cut to fit `width` pixels in `font`, ending in `…` when cut.
    func fitted(_ text: String, width: Double, _ font: Font) -> String {
        guard textWidth(text, font) > width else { return text }
        var characters = Array(text)
        while !characters.isEmpty {
            characters.removeLast()
            let candidate = String(characters) + "…"
            if textWidth(candidate, font) <= width { return candidate }
        }
        return ""
    }

    /// `text` broken at spaces into at most `maximumLines` lines of at most `width` pixels; the last line
    /// ends in `…` when the text does not fit.
    func wrapped(_ text: String, width: Double, _ font: Font, maximumLines: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        var words = text.split(separator: " ").map(String.init)[...]
        while let word = words.first {
            let candidate = current.isEmpty ? word : current + " " + word
            if textWidth(candidate, font) <= width || current.isEmpty {
                current = candidate
                words = words.dropFirst()
                continue
            }
            if lines.count == maximumLines - 1 { break }
            lines.append(fitted(current, width: width, font))
            current = ""
        }
        if !words.isEmpty { current += " " + words.joined(separator: " ") }
        if !current.isEmpty { lines.append(fitted(current, width: width, font)) }
        return lines
    }
}
