#!/usr/bin/env python3
"""Checks that the `ep` commands shown in the documentation are real (a static check: nothing is run but --help).

Every `ep VERB …` command in README.md, BENCHMARKS.md and docs/*.md — in shell code blocks (continuation lines joined, `$ `
prompts, comments and pipes handled) and in inline code that starts with `ep ` — must name a verb that exists
(nested verbs such as `ep shards plan` included), and every -x / --flag it gives must be one that verb's --help
lists. Placeholders (`ep VERB`, `ep <verb>`) and elisions (`…`) are allowed.

Usage: python3 scripts/docs/check_commands.py EP_BINARY [FILE.md ...]
       (default: README.md, BENCHMARKS.md and docs/*.md but docs/cli.md, which is the help itself)
"""
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console"}  # `text` blocks are output and listings


class Help:
    """The verbs and options of `ep PATH --help`, cached per verb path."""

    def __init__(self, ep):
        self.ep = ep
        self.cache = {}

    def of(self, path):
        if path not in self.cache:
            env = dict(os.environ, COLUMNS="80")
            result = subprocess.run([self.ep, *path, "--help"], capture_output=True, text=True, env=env)
            if result.returncode != 0:
                sys.exit(f"check_commands: `ep {' '.join(path)} --help` failed: {result.stderr.strip()}")
            subcommands, options, section = set(), {"-h", "--help"}, None
            # A verb that passes its other arguments to another verb (`ep shards plan` takes the flags of a build
            # from text, "see ep build --help") accepts that verb's options too.
            for delegate in re.findall(r"\(see ep ([a-z]+(?: [a-z]+)*)\s+--help\)", " ".join(result.stdout.split())):
                options |= self.of(tuple(delegate.split()))[1]
            for line in result.stdout.splitlines():
                if re.match(r"^[A-Z][A-Z0-9 ()-]*:", line):
                    section = line.split(":")[0]
                    continue
                if section == "SUBCOMMANDS":
                    m = re.match(r"^  ([a-z][a-z0-9-]*)", line)
                    if m:
                        subcommands.add(m.group(1))
                elif line.startswith("  -"):
                    names = re.split(r"\s{2,}", line.strip())[0]
                    options.update(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", names))
            self.cache[path] = (subcommands, options)
        return self.cache[path]


def strip_comment(line):
    """A shell comment: `#` after whitespace, outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def shell_commands(text):
    """(line number, command text) for every logical line of the shell code blocks, and every inline `ep …` span."""
    lines = text.split("\n")
    fence, language, pending, pending_line = None, "", "", 0
    prose = []
    for number, line in enumerate(lines, 1):
        m = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", line)
        if m:
            if fence is None:
                fence, language = m.group(2), m.group(3).lower()
                continue
            if line.strip().startswith(fence):
                fence = None
                continue
        if fence is None:
            prose.append((number, line))
            continue
        if language not in SHELL_LANGUAGES:
            continue
        body = line.strip()
        if body.startswith("$ "):
            body = body[2:]
        if not pending:
            pending_line = number
        body = strip_comment(body).rstrip()
        if body.endswith("\\"):
            pending += body[:-1] + " "
            continue
        yield pending_line, pending + body
        pending = ""
    # Inline code in prose (a span may run over a line break).
    joined, starts = "", []
    for number, line in prose:
        starts.append((len(joined), number))
        joined += line + "\n"
    for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", joined):
        span = m.group(1).replace("\n", " ").strip()
        if re.match(r"^ep\s+[a-z]", span):
            number = max(n for offset, n in starts if offset <= m.start())
            yield number, span


# Words after which a command follows in a shell line (`do ep …`, `xargs -P 4 ep …`, `parallel -j 4 ep …`).
WRAPPERS = {"do", "then", "else", "time", "nohup", "env", "exec", "srun", "xargs", "parallel", "timeout", "!"}


def ep_invocations(command):
    """The argument lists of every `ep` in command position in a shell line (segments split at ; && || | & $( )
    and backquotes): the segment's first word, or after a wrapper such as `xargs` or `do`, or after VAR=value."""
    for segment in re.split(r"&&|\|\||[;|&`()]|\$\(", command):
        words = segment.split()
        while words and "=" in words[0] and not words[0].startswith("-"):
            words = words[1:]
        if not words:
            continue
        start = 0 if words[0] in ("ep",) or words[0].endswith("/ep") else None
        if start is None and words[0] in WRAPPERS:
            start = next((i for i, w in enumerate(words) if w == "ep" or w.endswith("/ep")), None)
        if start is not None:
            yield words[start + 1:]


def check(ep_help, words):
    """Problems with one `ep` argument list, as strings."""
    path = ()
    args = list(words)
    if args and args[0] == "help":
        args = args[1:]
    while args:
        subcommands, _ = ep_help.of(path)
        word = args[0].strip("[]`,.")
        if word in subcommands:
            path += (word,)
            args = args[1:]
            continue
        if subcommands and not word.startswith("-"):
            if word.isupper() or word.startswith("<") or word in ("…", "...", ""):
                return []  # a placeholder: `ep VERB`, `ep <verb>`
            return [f"`ep {' '.join(path + (word,))}`: no such verb"]
        break
    _, options = ep_help.of(path)
    problems = []
    for word in args:
        word = word.strip("[](),;`")
        if word.endswith("."):
            word = word[:-1]
        m = re.match(r"^(--?[A-Za-z][\w-]*)(=.*)?$", word)
        if m and m.group(1) not in options:
            problems.append(f"`ep {' '.join(path)}` has no option {m.group(1)}")
    return problems


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ep_help = Help(os.path.abspath(sys.argv[1]))
    files = sys.argv[2:] or [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "BENCHMARKS.md")] + sorted(
        f for f in glob.glob(os.path.join(ROOT, "docs", "*.md")) if os.path.basename(f) != "cli.md")
    failures, checked = [], 0
    for file in files:
        text = open(file, encoding="utf-8").read()
        for number, command in shell_commands(text):
            for words in ep_invocations(command):
                checked += 1
                for problem in check(ep_help, words):
                    failures.append(f"{os.path.relpath(file, ROOT)}:{number}: {problem}: {command.strip()[:160]}")
    for failure in failures:
        print(failure, file=sys.stderr)
    if failures:
        sys.exit(f"check_commands: {len(failures)} problem(s) in the commands the documentation shows")
    print(f"documented commands: OK ({checked} ep commands in {len(files)} files name real verbs and options)")


if __name__ == "__main__":
    main()
