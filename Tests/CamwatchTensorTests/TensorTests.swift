import CamwatchTensor
import Testing

@Suite struct TensorTests {
    @Test func batchItemAndStackingRoundTrip() {
        let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(t.batchItem(1).scalars == [4, 5, 6])
        #expect(Tensor.concatenatingBatches([t.batchItem(0), t.batchItem(1)]) == t)
        let three = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        #expect(three.batchItems(1..<3) == Tensor(shape: [2, 2], scalars: [3, 4, 5, 6]))
        #expect(three.batchItems(0..<3) == three)
    }
}
