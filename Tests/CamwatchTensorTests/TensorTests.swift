import CamwatchTensor
import Testing

@Suite struct TensorTests {
    @Test func batchItemAndStackingRoundTrip() {
        let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(t.batchItem(1).scalars == [4, 5, 6])
        #expect(Tensor.concatenatingBatches([t.batchItem(0), t.batchItem(1)]) == t)
    }
}
