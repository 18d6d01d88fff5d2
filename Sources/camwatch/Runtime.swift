import CamwatchCheckpoint
import CamwatchImage
import CamwatchNN
import CamwatchTensor
import Foundation

/// Process-wide settings every command applies first.
enum Runtime {
    /// Sets the BLAS thread count (default: the machine's cores) and tunes the allocator.
    static func configure(threads: Int?) {
        ComputeThreads.setBLASThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        ComputeThreads.keepLargeBuffersInHeap()
    }

    /// This executable's absolute path (for child processes of itself).
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Whether stderr is a terminal (progress lines only then).
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// Carries the note of a BLAS restart from the process that decided it to the one it became (and tells
    /// that one not to restart again).
    private static let blasNoteVariable = BLASCoreCheck.restartVariable

    /// Makes OpenBLAS run the kernels for this CPU's widest vectors before anything else happens: when the
    /// library picked narrower ones (a CPU model newer than its table, or an `OPENBLAS_CORETYPE` set for other
    /// programs), the process re-executes itself with `OPENBLAS_CORETYPE` set — the library reads it only when
    /// it loads. Call first thing in `main`, while the process is still single-threaded apart from the
    /// library's own idle workers.
    static func ensureBestBLASCore() {
        let check = BLASCoreCheck.evaluate(
            cpu: .current(), libraryCore: BLASCore.current, environment: ProcessInfo.processInfo.environment)
        guard case .switchCore(let core, let note) = check else { return }
        let original = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(blasNoteVariable, note, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Still here: the restart failed; run with what the library picked.
        let reason = String(cString: strerror(errno))
        if let original { setenv("OPENBLAS_CORETYPE", original, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
        setenv(blasNoteVariable, "\(note.prefix { $0 != "(" })(could not restart itself: \(reason))", 1)
    }

    /// What `ensureBestBLASCore` did or found, as one line for the log; `nil` when the library's choice was
    /// right. Read once (the variable is then removed, so child processes and hooks do not inherit it).
    static let blasNote: String? = {
        if let note = ProcessInfo.processInfo.environment[blasNoteVariable] {
            unsetenv(blasNoteVariable)
            return note
        }
        let check = BLASCoreCheck.evaluate(
            cpu: .current(), libraryCore: BLASCore.current, environment: ProcessInfo.processInfo.environment)
        if case .leftAsSet(let note) = check { return note }
        return nil
    }()
}

/// Images on the command line → one input batch.
enum ImageInput {
    static func load(_ paths: [String], preprocessing: Preprocessing) throws -> Tensor {
        var images: [RGBImage] = []
        for path in paths {
            do { images.append(try PNGDecoder.decode(path: path)) } catch { throw CLIError("\(error)") }
        }
        return preprocessing.tensor(from: images)
    }

    /// Checks that the network accepts the preprocessed size and ends in a classifier.
    static func validate(_ network: Network, for resolved: ResolvedPreprocessing, weightsPath: String) throws {
        let (height, width) = (resolved.preprocessing.height, resolved.preprocessing.width)
        let shapes: [[Int]]
        do { shapes = try network.shapes(inputHeight: height, inputWidth: width) } catch {
            throw CLIError("\(weightsPath): \(error) (input \(height)×\(width) from \(resolved.sizeSource))")
        }
        let output = shapes[network.outputIndex]
        guard output.count == 2 else {
            throw CLIError("\(weightsPath): the model's output \(output) is not [N, classes]; is the output layer right?")
        }
    }
}

/// Printing results.
enum Output {
    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    static func warn(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
