import ArgumentParser

@main
struct Camwatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camwatch",
        abstract: "Watch training checkpoints and track how Score-CAM saliency drifts.",
        discussion: """
            camwatch loads HDF5 checkpoints (PyTorch state_dicts written with h5py) into its own CNN engine.
            Architectures: --arch NAME (built-in zoo), --model FILE (a model spec), the checkpoint's own
            'camwatch_model' attribute, or a model.json / model.yaml beside the checkpoint.
            """,
        version: "0.1.0",
        subcommands: [Watch.self, ReportCommand.self, Explain.self, Predict.self, Inspect.self, Bench.self, LoadCheckpointChild.self]
    )

    /// ArgumentParser's own `main`, after making sure the BLAS uses this CPU's best kernels (which may
    /// re-execute the process, so it comes before anything else).
    static func main() async {
        Runtime.ensureBestBLASCore()
        _ = Runtime.blasNote
        OwnSession.adoptParent()
        do {
            var command = try parseAsRoot()
            // Before any thread of camwatch's own starts: `watch` may continue in a session of its own.
            if let watch = command as? Watch { OwnSession.enterIfNeeded(priority: watch.priorityBeforeStart) }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
