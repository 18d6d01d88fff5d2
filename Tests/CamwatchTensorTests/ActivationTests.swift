import CamwatchTensor
import Foundation
import Testing

@Suite struct ActivationTests {
    /// GELU's erf is a rational approximation (vectorizable, unlike libm's erff): within 1e-6 of the exact
    /// formula in double precision over [−8, 8] in steps of 1/1024, including the clamp beyond |x| = 4·√2.
    @Test func geluIsTheExactFormulaToFloatPrecision() {
        let values = (-8192...8192).map { Float($0) / 1024 }
        var ours = values
        Activation.gelu.apply(to: &ours)
        var worst = 0.0
        for (x, y) in zip(values, ours) {
            let exact = 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))
            worst = max(worst, abs(Double(y) - exact) / max(1, abs(exact)))
        }
        #expect(worst <= 1e-6, "max relative error \(worst)")  // measured 9.2e-7; libm erff through the same formula: float rounding
    }
}
