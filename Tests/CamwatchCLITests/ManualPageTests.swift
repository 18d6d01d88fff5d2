import CamwatchTestSupport
import Foundation
import Testing

/// `deploy/install.sh` installs a manual page and bash, zsh and fish completions generated from the binary's
/// argument parser (deploy/manpage.py renders `camwatch --experimental-dump-help`). Staged with DESTDIR, as a
/// package build would, the installed files must name every command and option the binary has, and bash must
/// complete the commands from the installed script.
@Suite(.serialized) struct ManualPageTests {
    /// A command below the root as the user types it (`["bench", "forward"]`), with its displayed options.
    struct Command {
        var path: [String]
        var options: [String]
    }

    /// Every displayed command and its `--long` options, from the binary's own description of itself;
    /// ArgumentParser's `help` command and the hidden reader child are not for users.
    static func commands() throws -> [Command] {
        let run = try CommandRunner.run(["--experimental-dump-help"])
        #expect(run.status == 0, "\(run.stderr)")
        let dump = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        var found: [Command] = []
        func visit(_ command: [String: Any], path: [String]) {
            for case let sub as [String: Any] in command["subcommands"] as? [Any] ?? [] {
                guard sub["shouldDisplay"] as? Bool ?? true, let name = sub["commandName"] as? String, name != "help"
                else { continue }
                var options: [String] = []
                for case let argument as [String: Any] in sub["arguments"] as? [Any] ?? [] {
                    guard argument["shouldDisplay"] as? Bool ?? true else { continue }
                    for case let argumentName as [String: Any] in argument["names"] as? [Any] ?? []
                    where argumentName["kind"] as? String == "long" {
                        if let long = argumentName["name"] as? String, long != "help", long != "version" {
                            options.append(long)
                        }
                    }
                }
                found.append(Command(path: path + [name], options: options))
                visit(sub, path: path + [name])
            }
        }
        visit(dump["command"] as? [String: Any] ?? [:], path: [])
        return found
    }

    /// The files `deploy/install.sh --no-build` stages under a fresh DESTDIR, for the binary under test.
    struct Staged {
        var root: URL
        var manualPage: URL { root.appendingPathComponent("usr/local/share/man/man1/camwatch.1") }
        var bash: URL { root.appendingPathComponent("usr/local/share/bash-completion/completions/camwatch") }
        var zsh: URL { root.appendingPathComponent("usr/local/share/zsh/site-functions/_camwatch") }
        var fish: URL { root.appendingPathComponent("usr/local/share/fish/vendor_completions.d/camwatch.fish") }

        init() throws {
            root = try Fixtures.temporaryDirectory("camwatch-install")
            let script = Fixtures.packageRoot.appendingPathComponent("deploy/install.sh").path
            let process = try BackgroundProcess(
                [script, "--no-build", "--binary", CommandRunner.binary.path],
                executable: URL(fileURLWithPath: "/bin/bash"), environment: ["DESTDIR": root.path])
            let status = process.wait(timeout: 120)
            #expect(status == 0, "install.sh: \(process.stderr)")
        }

        func text(_ file: URL) throws -> String { try String(contentsOf: file, encoding: .utf8) }
        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    @Test("the installed manual page has a section for every command and an entry for each of its options")
    func manualPageNamesEveryCommandAndOption() throws {
        let staged = try Staged()
        defer { staged.remove() }
        let page = try staged.text(staged.manualPage)
        #expect(page.hasPrefix(".Dd "), "not an mdoc page: \(page.prefix(80))")
        let commands = try Self.commands()
        #expect(commands.map { $0.path.joined(separator: " ") }.contains("bench forward"))
        for command in commands {
            let name = command.path.joined(separator: " ")
            #expect(page.contains("\n.Ss \(name)\n"), "no section for camwatch \(name)")
            for option in command.options {
                #expect(page.contains(".It Fl -\(option)"), "camwatch \(name): --\(option) is not in the manual page")
            }
        }
        #expect(!page.contains("load-checkpoint-child"), "the hidden reader child is in the manual page")
    }

    @Test("groff formats the manual page without a warning", .enabled(if: Self.groff != nil, "groff is absent"))
    func manualPageFormatsCleanly() throws {
        let staged = try Staged()
        defer { staged.remove() }
        let groff = try #require(Self.groff)
        let run = try ExternalTools.run(groff, ["-mandoc", "-Tutf8", "-ww", "-z", staged.manualPage.path])
        #expect(run.status == 0 && run.stderr.isEmpty, "groff: \(run.stderr)")
        // Plain text (-P-cbou: no bold, underline or overstrike), as a terminal shows the words.
        let rendered = try ExternalTools.run(groff, ["-mandoc", "-Tutf8", "-P-cbou", staged.manualPage.path])
        for text in ["SYNOPSIS", "camwatch bench forward", "--activation-memory MiB", "EXIT STATUS"] {
            #expect(rendered.stdout.contains(text), "the formatted page lacks \(text)")
        }
    }

    @Test("bash completes every command and subcommand from the installed script; zsh and fish name them")
    func completionsNameEveryCommand() throws {
        let staged = try Staged()
        defer { staged.remove() }
        let commands = try Self.commands()
        let top = commands.filter { $0.path.count == 1 }.map { $0.path[0] }
        #expect(Set(top).isSuperset(of: ["watch", "report", "explain", "predict", "inspect", "bench"]))
        #expect(try Self.bashCompletions(staged.bash, typed: []).isSuperset(of: top))
        let bench = commands.filter { $0.path.count == 2 && $0.path[0] == "bench" }.map { $0.path[1] }
        #expect(!bench.isEmpty)
        #expect(try Self.bashCompletions(staged.bash, typed: ["bench"]).isSuperset(of: bench))
        #expect(try Self.bashCompletions(staged.bash, typed: ["watch", "--pro"]) == ["--probes"])
        #expect(!(try Self.bashCompletions(staged.bash, typed: [])).contains("load-checkpoint-child"))
        for script in [staged.zsh, staged.fish] {
            let text = try staged.text(script)
            for name in top + bench {
                #expect(text.contains(name), "\(script.lastPathComponent) does not name \(name)")
            }
        }
    }

    /// What bash offers after `camwatch WORDS… ` (or for the last word, when it is a prefix starting with `-`),
    /// with the installed completion script sourced as bash-completion would (which turns on extglob).
    static func bashCompletions(_ script: URL, typed: [String]) throws -> Set<String> {
        let completingPrefix = typed.last?.hasPrefix("-") == true
        let words = ["camwatch"] + typed + (completingPrefix ? [] : [""])
        let quoted = words.map { "'\($0)'" }.joined(separator: " ")
        let line = words.joined(separator: " ")
        let program = """
            shopt -s extglob
            source '\(script.path)'
            COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1)
            COMP_LINE='\(line)'; COMP_POINT=${#COMP_LINE}
            _camwatch camwatch "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        let run = try ExternalTools.run("/bin/bash", ["-c", program], timeout: 30)
        #expect(run.status == 0, "bash: \(run.stderr)")
        return Set(run.stdout.split(separator: "\n").map(String.init))
    }

    /// `groff` on the PATH (Debian's groff-base, which man-db depends on), if present.
    static let groff: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/groff" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
}
