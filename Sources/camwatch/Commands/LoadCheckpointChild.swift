import ArgumentParser
import CamwatchCheckpoint
import Foundation

/// The child side of `CheckpointSubprocess`: parses one checkpoint and writes it to stdout.
struct LoadCheckpointChild: ParsableCommand {
    static let name = "load-checkpoint-child"
    static let configuration = CommandConfiguration(
        commandName: name, abstract: "Internal: parse a checkpoint for the parent process.", shouldDisplay: false)

    func run() throws {
        let status = CheckpointSubprocess.serve()
        if status != 0 { throw ExitCode(status) }
    }
}
