public import ArgumentParser
import CamwatchCheckpoint
import CamwatchDaemon
public import CamwatchSaliency

// `ModelOptions` and `PreprocessingOptions` are declared in CamwatchDaemon, beside the config file they
// override (`watch` lays them over it); what only the commands need of them is here.

extension PreprocessingOptions {
    /// The preprocessing for a loaded model by the one rule (flags, the checkpoint's attributes, the model
    /// spec, the default). The command prints its `summary` on stderr once it has succeeded (a failure stays
    /// one line).
    /// - Throws: `CLIError` naming the checkpoint when one of its input attributes cannot be used.
    func resolve(for loaded: LoadedModel) throws -> ResolvedPreprocessing {
        do { return try PreprocessingResolver.resolve(flags: values, checkpoint: loaded.checkpoint, spec: loaded.spec) } catch {
            throw CLIError("\(error)")
        }
    }
}

// `--weighting`, parsed into the library's enum (a rejection lists the values). `--priority`, `--colormap` and
// `--method` take the names their config keys take, by one rule: see `SettingChoice` in CamwatchDaemon.
extension ScoreCAM.Weighting: ExpressibleByArgument {}
