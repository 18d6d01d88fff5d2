import ArgumentParser
import CamwatchCheckpoint
import CamwatchTensor
import Foundation

/// The child side of `CheckpointSubprocess`: parses one checkpoint and writes it to stdout.
struct LoadCheckpointChild: ParsableCommand {
    static let name = "load-checkpoint-child"
    static let configuration = CommandConfiguration(
        commandName: name, abstract: "Internal: parse a checkpoint for the parent process.", shouldDisplay: false)

    func run() throws {
        // A reader left behind by a killed daemon would hold a copy of a checkpoint open and burn CPU for nothing.
        guard ComputeThreads.dieWithParent() else { throw ExitCode(3) }
        let status = CheckpointSubprocess.serve()
        if status != 0 { throw ExitCode(status) }
    }
}
