import CamwatchCheckpoint
import Testing

@testable import CamwatchDaemon

/// A checkpoint's `failed` reason names the trainer's file once: decided by the file the error is about, not by
/// how its message happens to start.
@Suite struct CheckpointFailureTests {
    static let checkpoint = "/runs/a/epoch-1.h5"

    @Test func anErrorAboutTheCheckpointIsNotPrefixedAgain() {
        let error = ArchitectureError(path: Self.checkpoint, .noArchitecture)
        #expect(CheckpointFailure.architecture(file: Self.checkpoint, error).description == error.description)
    }

    @Test func anErrorAboutAnotherFileIsPrefixedWithTheCheckpoint() {
        let spec = ArchitectureError(path: "/runs/a/model.json", .unreadableSpec)
        #expect(CheckpointFailure.architecture(file: Self.checkpoint, spec).description
            == "/runs/a/epoch-1.h5: /runs/a/model.json: cannot read the model spec")
        let zoo = ArchitectureError(path: nil, .unknownArchitecture("resnet19"))
        #expect(CheckpointFailure.architecture(file: Self.checkpoint, zoo).description == "\(Self.checkpoint): \(zoo)")
    }

    @Test func aSpecFileNamedLikeTheCheckpointIsStillAnotherFile() {
        // Its message starts with "<checkpoint>:", which a test of the message's prefix took for the checkpoint.
        let spec = ArchitectureError(path: Self.checkpoint + ":model.json", .unreadableSpec)
        #expect(CheckpointFailure.architecture(file: Self.checkpoint, spec).description
            == "/runs/a/epoch-1.h5: /runs/a/epoch-1.h5:model.json: cannot read the model spec")
    }
}
