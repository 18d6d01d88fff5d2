import CamwatchTensor
import Foundation

extension CheckpointWatcher {
    /// A watcher with the configuration's directory, pattern and timing; start-up makes the first one, a reload
    /// that changes the pattern or the timing makes another.
    /// - Parameter alreadySeen: ids of checkpoints the run has recorded (they are not offered again).
    init(configuration: WatchConfiguration, alreadySeen: Set<String>) throws(ConfigurationError) {
        do {
            try self.init(
                directory: configuration.checkpoints, pattern: configuration.pattern,
                settleInterval: .seconds(configuration.settle), incompleteAfter: .seconds(configuration.incompleteAfter),
                alreadySeen: alreadySeen)
        } catch { throw ConfigurationError(.failure(ErrorCause(error))) }
    }
}
