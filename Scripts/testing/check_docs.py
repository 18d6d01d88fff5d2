#!/usr/bin/env python3
"""Checks the repository's documentation (standard library only; Scripts/test.sh runs it):

1. every relative Markdown link `[text](path)` / `[text](path#anchor)` / `[text](#anchor)` in a tracked .md file
   names a file or directory that exists, and its anchor a heading of the target file (GitHub's anchor rule:
   lower case, punctuation dropped, spaces to hyphens, `-1`, `-2` … for repeats);
2. no file of README.md, docs/, Scripts/, Benchmarks/, Sources/, Tests/, python/, deploy/ or Fuzz/ cites an
   issue of a tracker the repository does not hold (the word "issue" followed by a number, joined by a space,
   a hyphen or "#"): text should name the docs section instead.

    python3 Scripts/testing/check_docs.py [ROOT]

Prints one line per problem and exits 1 if there is any, else prints a summary and exits 0.
"""
import os
import re
import sys

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
TRACKER = re.compile(r"\bissue[ _#-]{0,2}[0-9]+", re.IGNORECASE)
CITATION_ROOTS = ["README.md", "docs", "Scripts", "Benchmarks", "Sources", "Tests", "python", "deploy", "Fuzz"]
TEXT_SUFFIXES = {".md", ".swift", ".py", ".sh", ".yaml", ".yml", ".json", ".toml", ".c", ".h", ".txt", ".service",
                 ".proto", ".supp", ".modulemap"}
SKIPPED_DIRS = {".build", ".git", ".swiftpm", "__pycache__", "out"}


def walk(root, start):
    """Files under `start` (a file or a directory relative to `root`), skipping build and VCS directories."""
    path = os.path.join(root, start)
    if os.path.isfile(path):
        yield path
        return
    for directory, subdirectories, files in os.walk(path):
        subdirectories[:] = sorted(d for d in subdirectories
                                   if d not in SKIPPED_DIRS and not d.startswith(".build"))
        for name in sorted(files):
            yield os.path.join(directory, name)


def slug(text):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading anchors by its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def prose_lines(path):
    """(line number, line) of a Markdown file outside fenced code blocks, inline code removed."""
    inside = False
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if FENCE.match(line):
                inside = not inside
                continue
            if not inside:
                yield number, INLINE_CODE.sub("", line.rstrip("\n"))


def anchors(path, cache={}):
    if path not in cache:
        seen, found = {}, set()
        for _, line in prose_lines(path):
            match = HEADING.match(line)
            if match:
                base = slug(match.group(2))
                count = seen.get(base, 0)
                seen[base] = count + 1
                found.add(base if count == 0 else f"{base}-{count}")
        cache[path] = found
    return cache[path]


def check_links(root):
    problems, checked = [], 0
    for path in walk(root, "."):
        if not path.endswith(".md"):
            continue
        for number, line in prose_lines(path):
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …
                    continue
                checked += 1
                file_part, _, anchor = target.partition("#")
                where = f"{os.path.relpath(path, root)}:{number}"
                resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                if not os.path.exists(resolved):
                    problems.append(f"{where}: link to a missing file: {target}")
                elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                    problems.append(f"{where}: link to a missing heading: {target}")
    return problems, checked


def check_citations(root):
    problems = []
    for start in CITATION_ROOTS:
        if not os.path.exists(os.path.join(root, start)):
            continue
        for path in walk(root, start):
            if os.path.splitext(path)[1] not in TEXT_SUFFIXES:
                continue
            try:
                with open(path, encoding="utf-8") as handle:
                    for number, line in enumerate(handle, 1):
                        for match in TRACKER.finditer(line):
                            problems.append(f"{os.path.relpath(path, root)}:{number}: cites a tracker issue "
                                            f"('{match.group(0)}'): name the docs section instead")
            except UnicodeDecodeError:
                continue
    return problems


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    link_problems, checked = check_links(root)
    problems = link_problems + check_citations(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check_docs: {len(problems)} problem(s)")
        return 1
    print(f"check_docs: {checked} relative links resolve; no tracker issue cited")
    return 0


if __name__ == "__main__":
    sys.exit(main())
