public import Foundation

/// Programs outside Swift the publishing tests use when the machine has them: TensorBoard's Python
/// environment (Scripts/tensorboard/make-env.sh) and headless Chromium (Debian's `chromium`).
public enum ExternalTools {
    /// `$CAMWATCH_TENSORBOARD_ENV/bin/python`, default `~/.cache/camwatch-tensorboard/bin/python`, if present.
    public static let tensorboardPython: String? = {
        let environment = ProcessInfo.processInfo.environment
        let directory =
            environment["CAMWATCH_TENSORBOARD_ENV"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/camwatch-tensorboard").path
        let python = directory + "/bin/python"
        return FileManager.default.isExecutableFile(atPath: python) ? python : nil
    }()

    public static let tensorboardMissing =
        "TensorBoard's Python environment is absent: run Scripts/tensorboard/make-env.sh (or set CAMWATCH_TENSORBOARD_ENV)"

    /// `$CAMWATCH_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH.
    public static let chromium: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["CAMWATCH_CHROMIUM"], FileManager.default.isExecutableFile(atPath: explicit) {
            return explicit
        }
        for directory in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            for name in ["chromium", "chromium-browser"] {
                let path = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
        }
        return nil
    }()

    public static let chromiumMissing = "headless Chromium is absent: apt-get install chromium (or set CAMWATCH_CHROMIUM)"

    public struct Run {
        public var status: Int32?
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` with `arguments` and waits at most `timeout` seconds.
    public static func run(_ executable: String, _ arguments: [String], timeout: Double = 120) throws -> Run {
        let process = try BackgroundProcess(arguments, executable: URL(fileURLWithPath: executable))
        let status = process.wait(timeout: timeout)
        if status == nil { process.signal(SIGKILL) }
        return Run(status: status, stdout: process.stdout, stderr: process.stderr)
    }

    /// Headless Chromium with a private profile (so parallel runs do not share one), no sandbox (tests
    /// run as root in CI), no GPU.
    public static func chromiumArguments(profile: URL) -> [String] {
        ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--user-data-dir=\(profile.path)"]
    }
}
