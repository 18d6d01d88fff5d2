import CamwatchCheckpoint
import CamwatchHDF5
import CamwatchTensor
import CamwatchTestSupport
import Foundation
import Testing

/// A Keras CSVLogger file beside the checkpoints gives them the learning rate and validation metrics Keras does
/// not store (Tests/Fixtures/keras/csvlogger: written by keras.callbacks.CSVLogger with Keras's History of the same
/// fit as the reference, Scripts/fixtures/make_csvlogger_fixture.py).
@Suite struct KerasTrainingLogTests {
    @Test func theLoggersFileGivesWhatKerasReported() throws {
        let directory = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/keras/csvlogger")
        let log = try #require(KerasTrainingLog.find(in: directory.path))
        #expect(log.path.hasSuffix("training.log"))
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("expected.json")))
        let history = try #require((expected as? [String: Any])?["history"] as? [String: [Double]])
        #expect(log.rows.count == 3)
        for (metric, values) in history {
            for (epoch, value) in values.enumerated() {
                // CSVLogger prints Python's repr of the float, which reads back exactly; Foundation's JSON reader
                // may be an ulp off the expected file's copy, hence 1e-15 relative.
                let read = try #require(log.row(epoch: epoch)?[metric], "\(metric) at epoch \(epoch)")
                #expect(abs(read - value) <= 1e-15 * abs(value), "\(metric) at epoch \(epoch): \(read) vs \(value)")
            }
        }
    }

    @Test func rowsAreKeyedByTheLoggersEpochAndAnUnfinishedLastLineIsLeftOut() throws {
        let text = "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss\n"
            + "0,0.25,0.001,1.5,0.3,1.4\n1,0.5,0.0005,1.1,0.55,1.0\n2,0.6,0.00"
        let log = try #require(KerasTrainingLog.parse(text, path: "training.log"))
        #expect(log.rows.keys.sorted() == [0, 1])
        #expect(log.row(epoch: 1)?["val_accuracy"] == 0.55 && log.row(epoch: 1)?["learning_rate"] == 0.0005)
        #expect(KerasTrainingLog.parse("step,loss\n1,2\n", path: "x.csv") == nil)
        // Windows line ends (Python's csv writer) read the same.
        #expect(KerasTrainingLog.parse("epoch,loss\r\n0,2\r\n", path: "x.csv")?.row(epoch: 0) == ["loss": 2])
        #expect(KerasTrainingLog.parse("", path: "x.csv") == nil)
    }

    @Test func aKerasCheckpointOfEpochETakesTheLoggersRowEMinusOne() throws {
        let directory = try Fixtures.temporaryDirectory("camwatch-csvlog")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "epoch,learning_rate,val_accuracy\n0,0.01,0.4\n1,0.005,0.61\n".write(
            to: directory.appendingPathComponent("training.log"), atomically: true, encoding: .utf8)
        let keras = Checkpoint(
            path: directory.appendingPathComponent("ckpt-02.weights.h5").path, format: "keras-weights", tensors: [:],
            attributes: ["epoch": .int(2), "val_accuracy": .double(0.9)])
        let added = KerasTrainingLog.attributes(for: keras, directory: directory.path)
        // The file's own attribute wins; the rest comes from the logger's row of epoch index 1.
        #expect(added == ["learning_rate": .double(0.005)])
        let pytorch = Checkpoint(path: "x.h5", format: "pytorch-state-dict", tensors: [:], attributes: ["epoch": .int(2)])
        #expect(KerasTrainingLog.attributes(for: pytorch, directory: directory.path).isEmpty)
    }
}
