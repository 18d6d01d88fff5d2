import Foundation

/// An output format of `camwatch report`.
public enum ReportFormat: String, Sendable, Hashable, CaseIterable {
    case text, json, markdown
}

/// The exit status of `camwatch report DIR --check`, for monitoring scripts.
public enum CheckStatus: Int32, Sendable, Hashable, CaseIterable {
    /// Still `warming-up` or `changing`.
    case changing = 0
    /// `stable`: the heatmaps have stopped moving.
    case stable = 1
    /// The last checkpoint failed, there is no readable report, or the model collapsed: something needs a
    /// person.
    case failed = 2
}

/// Renders a report for `camwatch report`: a table of checkpoints and a verdict line.
public enum ReportRenderer {
    /// Root attributes shown as table columns when any checkpoint has them: validation metrics
    /// (`val…`) and the learning rate, which explain drift (docs/architecture.md §5), at most `maximumMetricColumns`.
    static func isMetricColumn(_ name: String) -> Bool {
        name.hasPrefix("val") || name == "lr" || name == "learning_rate"
    }

    /// At most this many metric columns, so the table stays readable.
    public static let maximumMetricColumns = 4

    /// The report in `format`: `json` is `report.json` itself; `text` and `markdown` are a table of
    /// checkpoints (name, epoch, step, status, mean and max drift, weight drift, state, validation
    /// metrics) followed by the verdict line.
    /// - Throws: `MonitorError` only for `json`, when the report cannot be encoded.
    public static func render(_ report: Report, format: ReportFormat) throws(MonitorError) -> String {
        switch format {
        case .json: return String(decoding: try report.jsonBytes(), as: UTF8.self)
        // File names and the errors quoting them are the trainer's bytes: no terminal escapes in a report.
        case .text: return DisplayText.escaped(text(report), keepingNewlines: true)
        case .markdown: return DisplayText.escaped(markdown(report), keepingNewlines: true)
        }
    }

    /// One line saying where the run stands, with the numbers the rule used, e.g. (relative rule)
    /// `Verdict: stable since ckpt_012.h5 (epoch 12): last saliency drift 0.07 of its reference level 0.14
    /// (settled below 0.35), weight drift 0.09 of its reference 0.26 (settled below 0.15); stable after 2
    /// settled checkpoints in a row.` or (absolute rule) `… drift below 0.05 for 3 consecutive checkpoints.`
    /// When the run became stable as its learning rate dropped, a sentence saying so is added
    /// (``learningRateNote(for:)``) unless `learningRate` is false.
    /// Unless `metrics` is false, a sentence on where saliency sits follows (``metricsSentence(for:)``).
    public static func verdict(for report: Report, learningRate: Bool = true, metrics: Bool = true) -> String {
        let tracker = report.convergence
        let rule = tracker.rule
        let plural = rule.patience == 1 ? "" : "s"
        var line: String
        switch tracker.state {
        case _ where report.checkpoints.isEmpty:
            line = "Verdict: no checkpoints processed yet."
        case .warmingUp:
            line =
                "Verdict: warming up: \(tracker.processed) checkpoint\(tracker.processed == 1 ? "" : "s") "
                + "processed, drift needs 2."
        case .changing:
            switch rule.mode {
            case .absolute:
                let last = report.lastProcessed?.drift.map { "last drift \(number($0.mean)), " } ?? ""
                line =
                    "Verdict: still changing: \(last)threshold \(number(rule.threshold)), \(tracker.streak)/"
                    + "\(rule.patience) consecutive checkpoints below it."
            case .relative:
                line =
                    "Verdict: still changing: \(relativeEvidence(tracker)); \(tracker.streak)/\(rule.patience) "
                    + "settled checkpoints in a row."
            }
        case .diverged:
            let last = report.checkpoints.last { $0.diverged == true }
            let at = last.map { $0.name + ($0.epoch.map { " (epoch \($0))" } ?? "") } ?? "?"
            line = "Verdict: diverged at \(at): its weights hold NaN or infinite values, so there is nothing to "
                + "explain and the run is not converged, whatever it was before."
        case .collapsed:
            let evidence = report.lastProcessed?.collapse?.summary ?? "signs of collapse"
            let since = report.collapseStart.map { "since \($0.name)" + ($0.epoch.map { " (epoch \($0))" } ?? "") }
            line =
                "Verdict: collapsed \(since ?? "now"): \(evidence). The model no longer reads its input, so its "
                + "saliency does not move: a dead or collapsed run, not a converged one."
        case .stable:
            var since = tracker.convergedAt?.name ?? "?"
            if let id = tracker.convergedAt?.id, let epoch = report.entry(id: id)?.epoch {
                since += " (epoch \(epoch))"
            }
            switch rule.mode {
            case .absolute:
                line =
                    "Verdict: stable since \(since): drift below \(number(rule.threshold)) for \(rule.patience) "
                    + "consecutive checkpoint\(plural)."
            case .relative:
                line =
                    "Verdict: stable since \(since): \(relativeEvidence(tracker)); stable after \(rule.patience) "
                    + "settled checkpoint\(plural) in a row."
            }
        }
        if metrics { line += metricsSentence(for: report) }
        if learningRate, let note = learningRateNote(for: report) { line += " " + note }
        if let last = report.checkpoints.last, last.status == .failed {
            line += " Last checkpoint \(last.name) failed: \(last.error ?? "no reason recorded")."
        }
        if let waiting = report.retrying, !waiting.isEmpty {
            let shown = waiting.prefix(3).map(\.name).joined(separator: ", ") + (waiting.count > 3 ? ", …" : "")
            line += " \(waiting.count) checkpoint\(waiting.count == 1 ? "" : "s") to be read again (camwatch's reader "
                + "failed on \(waiting.count == 1 ? "it" : "them"), not the file): \(shown)."
        }
        return line
    }

    /// `Stable coincides with a learning-rate drop (lr 0.0003 → 0.0001 by epoch 21): …` when it does.
    public static func learningRateNote(for report: Report) -> String? {
        guard let drop = report.learningRateDropAtStable else { return nil }
        let at = drop.at.epoch.map { "epoch \($0)" } ?? drop.at.step.map { "step \($0)" } ?? drop.at.name
        return "Stable coincides with a learning-rate drop (lr \(number(drop.before)) → \(number(drop.after)) by \(at)): "
            + "heatmaps settle as steps shrink, so this may show the schedule more than convergence."
    }

    /// The relative rule's numbers at the last checkpoint: each signal's level over its reference level, and
    /// the bound it is held to.
    static func relativeEvidence(_ tracker: ConvergenceTracker) -> String {
        let rule = tracker.rule
        let reading = tracker.reading
        var parts: [String] = []
        if let ratio = reading?.driftRatio, let reference = tracker.saliency.reference {
            parts.append(
                "last saliency drift \(number(ratio)) of its reference level \(number(reference)) "
                    + "(settled below \(number(rule.settleRatio)))")
        } else {
            parts.append("saliency drift has no reference level yet (needs \(ConvergenceRule.window + 1) checkpoints)")
        }
        if let ratio = reading?.weightRatio, let reference = tracker.weights.reference {
            parts.append(
                "weight drift \(number(ratio)) of its reference \(number(reference)) "
                    + "(settled below \(number(rule.weightSettleRatio)))")
        } else if tracker.weights.reference != nil {
            parts.append("weight drift unknown at the last checkpoint (saliency decides alone)")
        }
        if let ratio = reading?.statisticsRatio, let reference = tracker.statistics.reference {
            parts.append(
                reading?.statisticsTrend == true
                    ? "batch-norm statistics still moving one way, \(number(ratio)) of their reference "
                        + "\(number(reference)) left to go (settled below \(number(rule.weightSettleRatio)))"
                    : "batch-norm statistics jitter \(number(ratio)) of their reference \(number(reference)) "
                        + "(settled below \(number(rule.settleRatio)))")
        }
        return parts.joined(separator: ", ")
    }

    /// The `--check` status of a report: `failed` when its last checkpoint failed or the model collapsed or
    /// diverged, else by state.
    public static func checkStatus(for report: Report) -> CheckStatus {
        if report.checkpoints.last?.status == .failed { return .failed }
        switch report.convergence.state {
        case .stable: return .stable
        case .collapsed, .diverged: return .failed
        case .warmingUp, .changing: return .changing
        }
    }

    /// The `--check` status of the report in `directory`, with a one-line message for stderr/stdout:
    /// the verdict, or why the report cannot be read (`failed` for a missing or unreadable report).
    public static func checkStatus(directory: String) -> (status: CheckStatus, message: String) {
        do throws(MonitorError) {
            guard let report = try ReportStore.read(directory: directory) else {
                return (.failed, "\(ReportStore.path(in: directory)): no report (has camwatch watch run here?)")
            }
            return (checkStatus(for: report), DisplayText.escaped(verdict(for: report)))
        } catch {
            return (.failed, error.description)
        }
    }

    // MARK: - Tables

    /// The table as rows of cells, one per checkpoint after the header row; `numeric` marks the columns to
    /// align right.
    public static func rows(_ report: Report) -> (cells: [[String]], numeric: [Bool]) {
        var metrics = Set<String>()
        for entry in report.checkpoints {
            for (name, value) in entry.attributes where isMetricColumn(name) && value.number != nil {
                metrics.insert(name)
            }
        }
        let metricColumns = Array(metrics.sorted().prefix(maximumMetricColumns))
        let heatmapColumns = heatmapMetricColumns(report)
        // The relative rule's ratios, so the verdict can be checked row by row.
        let ratios = report.convergence.mode == .relative
        let ratioColumns = ratios ? ["drift ratio", "weight ratio"] : []
        var cells = [
            ["checkpoint", "epoch", "step", "status", "drift", "drift max", "weight drift"] + ratioColumns + ["state"]
                + metricColumns + heatmapColumns.map(\.title)
        ]
        for entry in report.checkpoints {
            let drift: String = entry.drift.map { number($0.mean) } ?? "-"
            let driftMax: String = entry.drift.map { number($0.max) } ?? "-"
            let weightDrift: String = entry.weightDrift.map(number) ?? "-"
            let driftRatio: String = entry.convergence?.driftRatio.map(number) ?? "-"
            let weightRatio: String = entry.convergence?.weightRatio.map(number) ?? "-"
            var row: [String] = [DisplayText.escaped(entry.name), entry.epoch.map(String.init) ?? "-", entry.step.map(String.init) ?? "-"]
            row += [entry.status.rawValue, drift, driftMax, weightDrift]
            if ratios { row += [driftRatio, weightRatio] }
            row.append(entry.state.rawValue)
            row += metricColumns.map { name in entry.attributes[name]?.number.map(number) ?? "-" }
            row += heatmapMetricCells(entry, heatmapColumns)
            cells.append(row)
        }
        let numeric =
            [false, true, true, false, true, true, true] + ratioColumns.map { _ in true } + [false]
            + metricColumns.map { _ in true } + heatmapColumns.map { _ in true }
        return (cells, numeric)
    }

    static func text(_ report: Report) -> String {
        let (cells, numeric) = rows(report)
        let widths = (0..<numeric.count).map { column in cells.map { $0[column].count }.max() ?? 0 }
        var out = ""
        for (index, row) in cells.enumerated() {
            let padded = row.enumerated().map { column, cell in
                let fill = String(repeating: " ", count: widths[column] - cell.count)
                return numeric[column] && index > 0 ? fill + cell : cell + fill
            }
            out += padded.joined(separator: "  ").trimmingTrailingSpaces() + "\n"
        }
        return out + "\n" + verdict(for: report) + "\n"
    }

    static func markdown(_ report: Report) -> String {
        let (cells, numeric) = rows(report)
        func line(_ row: [String]) -> String { "| " + row.map(escapeMarkdown).joined(separator: " | ") + " |\n" }
        var out = line(cells[0])
        out += "|" + numeric.map { $0 ? " ---: |" : " --- |" }.joined() + "\n"
        for row in cells.dropFirst() { out += line(row) }
        return out + "\n**" + escapeMarkdown(verdict(for: report)) + "**\n"
    }

    /// Text from the trainer's files (file names, attribute keys, error messages) as literal Markdown: a table cell
    /// cannot hold `|` or a newline, raw HTML (`<img onerror=…>`) must not reach a page that renders the
    /// Markdown, nor may a name become a link, an image or emphasis. `<`, `>` and `&` become entities; `\`, `` ` ``,
    /// `*`, `[`, `]` and `|` are backslash-escaped (`_` inside words is no emphasis in CommonMark, and stays).
    static func escapeMarkdown(_ cell: String) -> String {
        var out = ""
        for character in cell {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\\", "`", "*", "[", "]", "|": out += "\\" + String(character)
            case _ where character.isNewline: out += " "
            default: out.append(character)
            }
        }
        return out
    }

    /// Four significant digits (`%.4g`: `0.05`, `0.1234`, `1.5e-05`), enough to compare drifts against a
    /// threshold by eye.
    static func number(_ value: Double) -> String {
        String(format: "%.4g", value)
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var result = self
        while result.last == " " { result.removeLast() }
        return result
    }
}
