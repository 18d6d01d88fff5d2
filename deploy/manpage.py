#!/usr/bin/env python3
"""Writes camwatch's manual page (mdoc, section 1) from the argument parser's own description of the commands.

    python3 deploy/manpage.py [BINARY] > camwatch.1        BINARY defaults to .build/release/camwatch
    man -l camwatch.1

It runs `BINARY --experimental-dump-help` (swift-argument-parser's JSON of every command, option, default and
help text), so the page always matches the binary it is installed with: deploy/install.sh runs it at install
time. Standard library only. The date on the page is SOURCE_DATE_EPOCH's when that is set (reproducible
packages), else today's (UTC).
"""
import datetime
import json
import os
import subprocess
import sys

SEE_ALSO = """\
The README and docs/ of camwatch's source tree: docs/configuration.md (every config key and flag),
docs/convergence.md (what stable, collapsed and diverged mean), docs/formats.md (checkpoints, probes and every
output field), docs/methods.md (the CAM methods and heatmap metrics), deploy/README.md (running as a service)."""


def escape(text):
    """A line of running text for roff: backslashes as `\\e`, a leading dot or quote made literal, and every
    non-ASCII character (×, –, …) as a `\\[uXXXX]` escape, which groff and mandoc read whatever the locale."""
    text = text.replace("\\", "\\e")
    text = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def text_lines(text):
    """Paragraphs of a help text as mdoc lines: a blank line starts a paragraph (`.Pp`), and an indented line
    that begins with a number or a bullet starts a line of its own (`.br`), as in a list of exit statuses
    laid out by hand in the help text."""
    lines = []
    for raw in (text or "").strip("\n").split("\n"):
        line = raw.strip()
        if not line:
            if lines and lines[-1] != ".Pp":
                lines.append(".Pp")
            continue
        if raw[:1].isspace() and line[:1] in "0123456789-*" and lines and lines[-1] != ".Pp":
            lines.append(".br")
        lines.append(escape(line))
    return lines


def displayed(items):
    return [item for item in items or [] if item.get("shouldDisplay", True)]


def is_builtin(argument):
    """ArgumentParser's own --help and --version, which every command has: named once, in the SYNOPSIS."""
    return argument["kind"] == "flag" and argument.get("valueName") in ("help", "version")


def commands(items):
    """The displayed subcommands, without ArgumentParser's own `help` command (it repeats --help)."""
    return [item for item in displayed(items) if item["commandName"] != "help"]


def flag_name(name):
    """`Fl` takes the option without its first hyphen: `Fl -probes` renders as --probes."""
    return ("-" + name["name"]) if name["kind"] in ("long", "longWithSingleDash") else name["name"]


def argument_words(argument):
    """The mdoc words naming an argument in a synopsis or a list: `Fl -out Ar out`, `Ar image ...`."""
    if argument["kind"] == "positional":
        words = ["Ar", argument["valueName"]]
    else:
        names = argument.get("names") or [argument["preferredName"]]
        words = []
        for index, name in enumerate(names):
            if index:
                words.append(",")
            words += ["Fl", flag_name(name)]
        if argument["kind"] == "option":
            words += ["Ar", argument["valueName"]]
    if argument.get("isRepeating"):
        words.append("...")
    return words


def synopsis(path, command):
    lines = [".Nm", ".Cm " + " ".join(path[1:])] if len(path) > 1 else [".Nm"]
    for argument in displayed(command.get("arguments")):
        if is_builtin(argument):
            continue
        words = " ".join(argument_words(argument))
        lines.append((".Op " if argument.get("isOptional") else ".") + words)
    if commands(command.get("subcommands")):
        lines.append(".Ar subcommand")
    return lines


def argument_list(command):
    arguments = [argument for argument in displayed(command.get("arguments")) if not is_builtin(argument)]
    if not arguments:
        return []
    lines = [".Bl -tag -width 6n"]
    for argument in arguments:
        lines.append(".It " + " ".join(argument_words(argument)))
        lines += text_lines(argument.get("abstract"))
        lines += text_lines(argument.get("discussion")) if isinstance(argument.get("discussion"), str) else []
        abstract = argument.get("abstract") or ""
        if argument.get("allValues") and not all(value in abstract for value in argument["allValues"]):
            lines.append(escape("One of: " + ", ".join(argument["allValues"]) + "."))
        if argument.get("defaultValue") not in (None, "") and "default" not in abstract.lower():
            lines.append(escape("Default: " + str(argument["defaultValue"]) + "."))
    lines.append(".El")
    return lines


def command_section(path, command):
    """One `.Ss` per command below the root, recursively (`camwatch bench forward`)."""
    lines = [".Ss " + " ".join(path[1:])]
    lines += synopsis(path, command)
    lines.append(".Pp")
    lines += text_lines(command.get("abstract"))
    if command.get("discussion"):
        lines.append(".Pp")
        lines += text_lines(command["discussion"])
    lines += argument_list(command)
    for subcommand in commands(command.get("subcommands")):
        lines += command_section(path + [subcommand["commandName"]], subcommand)
    return lines


def page(dump, date, version):
    root = dump["command"]
    name = root["commandName"]
    lines = [
        f".Dd {date:%B} {date.day}, {date.year}",
        f".Dt {name.upper()} 1",
        f".Os {name} {version}",
        ".Sh NAME",
        f".Nm {name}",
        ".Nd " + escape(root.get("abstract", "")).rstrip("."),
        ".Sh SYNOPSIS",
        ".Nm",
        ".Ar command",
        ".Op Ar options",
        ".Nm",
        ".Fl -help | -version",
        ".Sh DESCRIPTION",
        *text_lines(root.get("discussion")),
        ".Pp",
        escape(f"Every command prints its own help with {name} COMMAND --help; an error is one line on standard "
               "error and a non-zero exit status."),
        ".Sh COMMANDS",
    ]
    for command in commands(root.get("subcommands")):
        lines += command_section([name, command["commandName"]], command)
    lines += [
        ".Sh FILES",
        ".Bl -tag -width 6n",
        ".It Pa /etc/camwatch/ Ns Ar job Ns Pa .yaml",
        "The configuration of one training job, read by the systemd unit",
        ".Pa camwatch@ Ns Ar job Ns Pa .service .",
        ".It Pa /etc/camwatch/camwatch.example.yaml",
        "Every configuration key, commented; safe to copy.",
        ".It Pa /var/lib/camwatch/ Ns Ar job",
        "The unit's output directory: report.json, timeline.png, drift.png, heatmaps.h5, camwatch.prom, index.html.",
        ".El",
        ".Sh EXIT STATUS",
        "0 on success and non-zero on an error.",
        ".Nm",
        "report --check exits 0 while saliency is changing or warming up, 1 when the run is stable, and 2 when",
        "the model collapsed or diverged, the last checkpoint failed or there is no readable report.",
        ".Sh SEE ALSO",
        ".Xr systemctl 1 ,",
        ".Xr journalctl 1",
        ".Pp",
        *text_lines(SEE_ALSO),
    ]
    return "\n".join(lines) + "\n"


def ask(binary, flag):
    """The binary's answer to `flag`; one line and exit status 1 when it cannot give one."""
    try:
        return subprocess.run([binary, flag], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"manpage.py: {binary} {flag}: {error}")


def main():
    if len(sys.argv) > 2 or sys.argv[1:] in (["-h"], ["--help"]):
        sys.exit("usage: manpage.py [CAMWATCH_BINARY]   (default .build/release/camwatch; the page goes to stdout)")
    binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/camwatch"
    try:
        dump = json.loads(ask(binary, "--experimental-dump-help"))
    except json.JSONDecodeError as error:
        sys.exit(f"manpage.py: {binary} --experimental-dump-help: not JSON ({error})")
    version = ask(binary, "--version").strip()
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    date = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc))
    sys.stdout.write(page(dump, date, version))


if __name__ == "__main__":
    main()
