import CamwatchTensor

/// The largest absolute elementwise difference between two equally long arrays.
public func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var worst: Float = 0
    for i in a.indices { worst = max(worst, abs(a[i] - b[i])) }
    return worst
}

/// Pearson correlation of two equally long arrays (1 when both are constant and equal).
public func pearson(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count && !a.isEmpty, "length \(a.count) vs \(b.count)")
    let n = Double(a.count)
    let meanA = a.reduce(0.0) { $0 + Double($1) } / n
    let meanB = b.reduce(0.0) { $0 + Double($1) } / n
    var sab = 0.0, saa = 0.0, sbb = 0.0
    for i in a.indices {
        let da = Double(a[i]) - meanA, db = Double(b[i]) - meanB
        sab += da * db; saa += da * da; sbb += db * db
    }
    if saa == 0 && sbb == 0 { return 1 }
    if saa == 0 || sbb == 0 { return 0 }
    return sab / (saa * sbb).squareRoot()
}

/// Whether every element of `actual` is within `atol + rtol·|expected|` of `expected`.
public func isClose(_ actual: [Float], _ expected: [Float], rtol: Float = 0, atol: Float) -> Bool {
    guard actual.count == expected.count else { return false }
    for i in actual.indices where !(abs(actual[i] - expected[i]) <= atol + rtol * abs(expected[i])) { return false }
    return true
}
