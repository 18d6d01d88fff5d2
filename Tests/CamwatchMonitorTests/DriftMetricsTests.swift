import CamwatchMonitor
import CamwatchTensor
import Testing

@Suite struct DriftMetricsTests {
    static let ramp: [Float] = [0, 0.25, 0.5, 0.75, 1]

    @Test func identicalMapsHaveNoDrift() throws {
        let map: [Float] = [0.1, 0.9, 0.3, 0.7, 0.5, 0.2]
        let metrics = try DriftMetrics(previous: map, current: map)
        expectClose(metrics.drift, 0)
        #expect(metrics.l1 == 0)
        #expect(metrics.iou == 1)
    }

    @Test func negatedPatternHasDriftTwo() throws {
        // r = −1; |a − (1 − a)| = |2a − 1| = 1, .5, 0, .5, 1; the top-20 % pixel moves from index 4 to 0.
        let metrics = try DriftMetrics(previous: Self.ramp, current: Self.ramp.map { 1 - $0 })
        expectClose(metrics.drift, 2)
        expectClose(metrics.l1, 0.6)
        #expect(metrics.iou == 0)
    }

    @Test func affineRescalingIsNotDriftButIsL1() throws {
        // Pearson ignores scale and offset; L1 sees |0.5a − 0.25| = .25, .125, 0, .125, .25.
        let metrics = try DriftMetrics(previous: Self.ramp, current: Self.ramp.map { 0.5 * $0 + 0.25 })
        expectClose(metrics.drift, 0)
        expectClose(metrics.l1, 0.15)
        #expect(metrics.iou == 1)
    }

    @Test func shiftedHotSpot() throws {
        // Means 1/4; Σ da·db = −0.25, Σ da² = Σ db² = 0.75 ⇒ r = −1/3, drift 4/3.
        let metrics = try DriftMetrics(previous: [1, 0, 0, 0], current: [0, 1, 0, 0])
        expectClose(metrics.drift, 4.0 / 3.0)
        expectClose(metrics.l1, 0.5)
        #expect(metrics.iou == 0)
    }

    @Test func bothConstantIsZeroDriftOneConstantIsOne() throws {
        let both = try DriftMetrics(previous: [0.3, 0.3, 0.3, 0.3], current: [0.7, 0.7, 0.7, 0.7])
        #expect(both.drift == 0)
        expectClose(both.l1, Double(Float(0.7)) - Double(Float(0.3)))
        #expect(both.iou == 1)

        // 0.1 three times: a Double mean of these is not exactly Float(0.1); the drift must still be exact.
        let one = try DriftMetrics(previous: [0.1, 0.1, 0.1], current: [0.1, 0.2, 0.3])
        #expect(one.drift == 1)
        // Constant map: region = all 3 pixels; ramp: ⌈0.8·2⌉ = 2 → {pixel 2}. IoU = 1/3.
        expectClose(one.iou, 1.0 / 3.0)
        let reverse = try DriftMetrics(previous: [0, 0.5, 1], current: [0, 0, 0])
        #expect(reverse.drift == 1)
    }

    @Test func tinyMaps() throws {
        let single = try DriftMetrics(previous: [0.2], current: [0.9])
        #expect(single.drift == 0)
        expectClose(single.l1, Double(Float(0.9)) - Double(Float(0.2)))
        #expect(single.iou == 1)
        let pair = try DriftMetrics(previous: [0, 1], current: [1, 0])
        expectClose(pair.drift, 2)
        #expect(pair.l1 == 1)
        #expect(pair.iou == 0)
    }

    @Test func nearlyConstantMapsStayFinite() throws {
        let base: Float = 0.1
        let almost: [Float] = [base, base, base.nextUp]
        for other in [almost, [base, base, base], [0.5, 0.5, 0.5], Array(almost.reversed())] {
            let metrics = try DriftMetrics(previous: almost, current: other)
            #expect(metrics.drift.isFinite && metrics.drift >= 0 && metrics.drift <= 2)
            #expect(metrics.l1.isFinite)
            #expect(metrics.iou.isFinite)
        }
        // One-ulp spikes correlate like any two one-hot maps of 3 pixels: r = −1/2.
        expectClose(try DriftMetrics(previous: almost, current: [base.nextUp, base, base]).drift, 1.5, tolerance: 1e-9)
    }

    @Test func topRegionIsTheEightiethPercentileWithTiesIn() {
        // n = 10: index ⌈0.8 · 9⌉ = 8 → the two largest.
        let ranks: [Float] = (0..<10).map { Float($0) / 9 }
        #expect(DriftMetrics.topRegion(ranks) == [false, false, false, false, false, false, false, false, true, true])
        // A tie at the threshold is in: 3 pixels.
        var tied = ranks
        tied[7] = tied[8]
        #expect(DriftMetrics.topRegion(tied).filter { $0 }.count == 3)
        #expect(DriftMetrics.topRegion(tied)[7])
        // n = 6: index ⌈0.8 · 5⌉ = 4 (exact) → pixels ≥ the 5th smallest, 2 of 6;
        // np.percentile(v, 80) is that value too.
        #expect(DriftMetrics.topRegion([6, 1, 5, 2, 4, 3]) == [true, false, true, false, false, false])
        // Eight floor pixels: the threshold (index 8) is 0.4, above the floor, so the usual rule applies.
        let spot: [Float] = [0, 0, 0, 0, 0, 0, 0, 0, 0.4, 1]
        #expect(DriftMetrics.topRegion(spot) == [false, false, false, false, false, false, false, false, true, true])
        // Nine floor pixels: the threshold is the floor; the region is the pixels above it, not the whole map.
        #expect(DriftMetrics.topRegion([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).filter { $0 }.count == 1)
        #expect(DriftMetrics.topRegion([0.5, 0.5, 0.5]) == [true, true, true])
    }

    @Test func iouOfHandComputedRegions() throws {
        let ranks: [Float] = (0..<10).map { Float($0) / 9 }  // region {8, 9}
        var moved = ranks
        moved[0] = 0.95  // region {0, 9}: ∩ = {9}, ∪ = {0, 8, 9}
        moved[8] = 0.1
        expectClose(try DriftMetrics(previous: ranks, current: moved).iou, 1.0 / 3.0)
        var tied = ranks
        tied[7] = tied[8]  // region {7, 8, 9}: ∩ = {8, 9}, ∪ = {7, 8, 9}
        expectClose(try DriftMetrics(previous: ranks, current: tied).iou, 2.0 / 3.0)
        // Floor-heavy spots at different places do not overlap.
        let a: [Float] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        let b: [Float] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(try DriftMetrics(previous: a, current: b).iou == 0)
    }

    @Test func badInputsAreErrorsNotNaN() {
        #expect(throws: MonitorError.self) { try DriftMetrics(previous: [0, 1], current: [0, 1, 0]) }
        #expect(throws: MonitorError.self) { try DriftMetrics(previous: [], current: []) }
        #expect(throws: MonitorError.self) { try DriftMetrics(previous: [0, .nan], current: [0, 1]) }
        do {
            _ = try DriftMetrics(previous: [0, 1], current: [0, 1, 0])
        } catch {
            #expect(error.kind == .mismatch)
            #expect(error.description == "heatmaps differ in size (2 vs 3 values)")
        }
    }

    @Test func checkpointDriftIsMeanAndMaxOverProbes() throws {
        let drift = try #require(
            try CheckpointDrift.between(
                previous: ["a": [0, 1], "b": [0, 1], "gone": [0, 1]],
                current: ["a": [0, 1], "b": [1, 0], "new": [1, 0]]))
        #expect(Set(drift.perProbe.keys) == ["a", "b"])
        expectClose(drift.mean, 1)  // (0 + 2) / 2
        expectClose(drift.max, 2)
        #expect(try CheckpointDrift.between(previous: ["a": [0, 1]], current: ["b": [0, 1]]) == nil)
        #expect(CheckpointDrift(perProbe: [:]) == nil)
        #expect(throws: MonitorError.self) {
            try CheckpointDrift.between(previous: ["a": [0, 1]], current: ["a": [0]])
        }
    }

    @Test func weightDriftIsRelativeFrobeniusNorm() {
        let previous = [
            "conv.weight": Tensor(shape: [2], scalars: [3, 0]),
            "fc.weight": Tensor(shape: [1, 1], scalars: [4]),
            "old.only": Tensor(shape: [1], scalars: [100]),
            "reshaped": Tensor(shape: [2], scalars: [7, 7]),
            "bn.running_var": Tensor(shape: [1], scalars: [1]),
            "layers/bn/vars/moving_mean:0": Tensor(shape: [1], scalars: [0]),
        ]
        let current = [
            "conv.weight": Tensor(shape: [2], scalars: [3, 3]),
            "fc.weight": Tensor(shape: [1, 1], scalars: [4]),
            "new.only": Tensor(shape: [1], scalars: [100]),
            "reshaped": Tensor(shape: [1, 2], scalars: [0, 0]),
            "bn.running_var": Tensor(shape: [1], scalars: [50]),
            "layers/bn/vars/moving_mean:0": Tensor(shape: [1], scalars: [9]),
        ]
        // ‖Δ‖ = 3 over conv+fc, ‖w_prev‖ = 5; the other tensors are not comparable, and batch-norm statistics
        // are not learned weights.
        expectClose(DriftMetrics.weightDrift(previous: previous, current: current) ?? -1, 0.6)
        #expect(DriftMetrics.weightDrift(previous: previous, current: previous) == 0)
        #expect(DriftMetrics.weightDrift(previous: ["a": Tensor(shape: [1], scalars: [1])], current: [:]) == nil)
        let zero = ["a": Tensor(shape: [2], scalars: [0, 0])]
        #expect(DriftMetrics.weightDrift(previous: zero, current: zero) == 0)
        #expect(DriftMetrics.weightDrift(previous: zero, current: ["a": Tensor(shape: [2], scalars: [0, 1])]) == nil)
    }

    @Test func runningStatisticsAreRecognisedByName() {
        for name in ["bn1.running_mean", "layer1.0.bn2.running_var", "bn.num_batches_tracked", "block/bn/moving_mean",
                     "model_weights/bn/bn/moving_variance:0", "running_var"] {
            #expect(DriftMetrics.isRunningStatistic(name), "\(name)")
        }
        for name in ["bn1.weight", "bn1.bias", "conv.running_mean_scale", "fc.weight", "running", "moving_mean.weight"] {
            #expect(!DriftMetrics.isRunningStatistic(name), "\(name)")
        }
    }

    @Test func weightDriftAccumulatesInDouble() {
        // A million small differences: Float accumulation would lose ~1e-4 relative; Double keeps 1e-9.
        let n = 1_000_000
        let step = Float(1.001)
        let previous = ["w": Tensor(shape: [n], scalars: [Float](repeating: 1, count: n))]
        let current = ["w": Tensor(shape: [n], scalars: [Float](repeating: step, count: n))]
        let expected = Double(step) - 1
        expectClose(
            DriftMetrics.weightDrift(previous: previous, current: current) ?? -1, expected, tolerance: expected * 1e-9)
    }
}
