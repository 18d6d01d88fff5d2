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

    /// The vectorizable eˣ against Foundation's double exp: within 1 ulp of the float nearest the exact value
    /// wherever that is a normal float (every 1/128 over [−87.3, 88.7], a float's worth of values around 0 and
    /// around each k · ln 2 where the range reduction switches k), subnormal results within 1 ulp of their
    /// spacing, and the edges exact: overflow to +∞, underflow to 0, NaN kept.
    @Test func expIsFoundationsWithinOneULP() {
        var values = (-11_178...11_356).map { Float($0) / 128 }
        values += (-64...64).map { Float($0) * 1e-6 }
        for k in -125...127 {
            let edge = Float(Double(k) * M_LN2 + M_LN2 / 2)
            values += [edge.nextDown.nextDown, edge.nextDown, edge, edge.nextUp, edge.nextUp.nextUp]
        }
        var worst: Float = 0
        for x in values {
            let exact = Foundation.exp(Double(x))
            guard exact >= Double(Float.leastNormalMagnitude), exact <= Double(Float.greatestFiniteMagnitude) else {
                continue
            }
            let nearest = Float(exact)
            worst = max(worst, abs(Activation.exp(x) - nearest) / nearest.ulp)
        }
        #expect(worst <= 1, "worst \(worst) ulp")  // measured 1 ulp: float rounding of the polynomial
        for x: Float in [-88, -95.5, -100, -103.9] {
            let exact = Float(Foundation.exp(Double(x)))  // subnormal
            #expect(abs(Activation.exp(x) - exact) <= Float.leastNonzeroMagnitude, "exp(\(x))")
        }
        #expect(Activation.exp(88) == Float(Foundation.exp(88.0)))
        #expect(Activation.exp(88.72) == Float(Foundation.exp(Double(Float(88.72)))))
        #expect(Activation.exp(88.73) == .infinity)
        #expect(Activation.exp(100) == .infinity)
        #expect(Activation.exp(.infinity) == .infinity)
        #expect(Activation.exp(-104) == 0)
        #expect(Activation.exp(-.infinity) == 0)
        #expect(Activation.exp(.nan).isNaN)
        #expect(Activation.exp(0) == 1)
    }

    /// Sigmoid and SiLU (the C kernels, at every width this CPU runs) against their exact formulas in double,
    /// including inputs whose eˣ overflows or underflows (sigmoid 0 and 1, SiLU −0 and x) and NaN, and bit for
    /// bit against the same formula through the Swift ``Activation/exp(_:)``, with a bias added on the way.
    @Test func sigmoidAndSiLUAreTheExactFormulasAtEveryWidth() {
        let values = (-12_800...12_800).map { Float($0) / 128 } + [-1000, -89, 89, 1000, .infinity, -.infinity]
        let shift: Float = 0.25
        for activation in [Activation.sigmoid, .silu] {
            for level in WinogradKernelLevelTests.runnable {
                var ours = values
                ours.withUnsafeMutableBufferPointer { activation.apply(to: $0, adding: shift, kernels: level) }
                var worst = 0.0
                var identical = true
                for (v, y) in zip(values, ours) {
                    let x = v + shift
                    let sigmoid = 1 / (1 + Foundation.exp(-Double(x)))
                    let exact = activation == .sigmoid ? sigmoid : Double(x) * sigmoid
                    if x.isFinite { worst = max(worst, abs(Double(y) - exact) / max(1e-30, abs(exact))) }
                    let swift = (activation == .sigmoid ? 1 : x) / (1 + Activation.exp(-x))
                    identical = identical && (y == swift || (y.isNaN && swift.isNaN))
                }
                #expect(worst <= 5e-7, "\(activation) \(level): max relative error \(worst)")
                #expect(identical, "\(activation) \(level) differs from the Swift formula")
                var nan: [Float] = [.nan]
                nan.withUnsafeMutableBufferPointer { activation.apply(to: $0, kernels: level) }
                #expect(nan[0].isNaN, "\(activation) \(level)")
            }
        }
    }
}
