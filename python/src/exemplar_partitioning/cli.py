"""Thin wrappers that run the `ep` executable: its progress goes to this process's stderr as it comes, and a
failure raises :class:`EPError` carrying ep's own message."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .dictionary import Dictionary, load

PathLike = Union[str, "os.PathLike[str]"]


class EPError(RuntimeError):
    """`ep` exited with a failure. `message` is ep's error message (the text after `Error: `), `returncode` its exit
    status, `args` the command line and `stderr` all it wrote there."""

    def __init__(self, message: str, returncode: int, command: List[str], stderr: str):
        super().__init__(f"ep {' '.join(command[1:2])} failed (exit status {returncode}): {message}")
        self.message = message
        self.returncode = returncode
        self.command = command
        self.stderr = stderr


class EPNotFoundError(FileNotFoundError):
    """No `ep` executable: give `ep=` or set EP_BINARY, or put `ep` on PATH."""


def find_ep(ep: Optional[PathLike] = None) -> str:
    """The `ep` executable: `ep` if given, else $EP_BINARY, else `ep` on PATH."""
    candidate = os.fspath(ep) if ep is not None else os.environ.get("EP_BINARY")
    if candidate:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
        found = shutil.which(candidate)
        if found:
            return found
        origin = "ep=" if ep is not None else "EP_BINARY"
        raise EPNotFoundError(f"{origin} names {candidate!r}, which is not an executable file")
    found = shutil.which("ep")
    if found is None:
        raise EPNotFoundError("no `ep` executable: pass ep=PATH, set EP_BINARY, or put ep on PATH (swift build -c release builds .build/release/ep)")
    return found


def _error_message(stderr: str) -> str:
    """ep's error message: from the last line starting with `Error: ` to the end, else the last lines written."""
    lines = [line for line in stderr.replace("\r", "\n").split("\n")]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Error: "):
            return "\n".join([lines[i][len("Error: "):]] + [l for l in lines[i + 1:] if l.strip()]).strip()
    tail = [l for l in lines if l.strip()][-5:]
    return "\n".join(tail) if tail else "(no message)"


def _flags(options: Dict[str, Any]) -> List[str]:
    """`max_tokens=1000` → `--max-tokens 1000`; True → the bare flag; False/None → nothing; a list → the option
    repeated."""
    args: List[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                args += [flag, os.fspath(item) if isinstance(item, os.PathLike) else str(item)]
        else:
            args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return args


def run(args: Sequence[Any], ep: Optional[PathLike] = None, cwd: Optional[PathLike] = None,
        env: Optional[Dict[str, str]] = None, progress: bool = True) -> str:
    """Runs `ep ARGS…` and returns what it printed on stdout. Its stderr (progress lines, notes) is copied to
    sys.stderr as it comes unless `progress` is False; a non-zero exit raises :class:`EPError` with ep's message."""
    command = [find_ep(ep)] + [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]
    environment = None if env is None else {**os.environ, **env}
    process = subprocess.Popen(command, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    chunks: List[bytes] = []

    def pump() -> None:
        assert process.stderr is not None
        target = getattr(sys.stderr, "buffer", None)
        while True:
            chunk = process.stderr.read1(65536) if hasattr(process.stderr, "read1") else process.stderr.read(4096)
            if not chunk:
                break
            chunks.append(chunk)
            if progress:
                if target is not None:
                    target.write(chunk)
                    target.flush()
                else:
                    sys.stderr.write(chunk.decode("utf-8", "replace"))
                    sys.stderr.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    assert process.stdout is not None
    stdout = process.stdout.read()
    process.wait()
    reader.join()
    stderr = b"".join(chunks).decode("utf-8", "replace")
    if process.returncode != 0:
        raise EPError(_error_message(stderr), process.returncode, command, stderr)
    return stdout.decode("utf-8", "replace")


def build(inputs: Union[None, PathLike, Sequence[PathLike]] = None, *, output: PathLike, ep: Optional[PathLike] = None,
          cwd: Optional[PathLike] = None, env: Optional[Dict[str, str]] = None, progress: bool = True, **options: Any) -> Dictionary:
    """`ep build [INPUTS…] -o OUTPUT --option value…` — from activation files (`inputs`) or from text (`model=`,
    `hook=`, `corpus=` …; see `ep build --help`) — and returns the dictionary read back."""
    files = [] if inputs is None else [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    run(["build", *files, "--output", output, *_flags(options)], ep=ep, cwd=cwd, env=env, progress=progress)
    return load(os.path.join(os.fspath(cwd), os.fspath(output)) if cwd is not None else output)


def activations(model: PathLike, *, output: PathLike, hook: Union[str, Sequence[str]], ep: Optional[PathLike] = None,
                cwd: Optional[PathLike] = None, env: Optional[Dict[str, str]] = None, progress: bool = True,
                **options: Any) -> Union[np.ndarray, Dict[str, np.ndarray]]:
    """`ep activations MODEL --hook HOOK -o OUTPUT …` (`text=`, `text_file=`, `tokens_file=` …) and returns the
    activations (float32, one row per token): an array for one hook, a dict hook → array for several."""
    hooks = [hook] if isinstance(hook, str) else list(hook)
    run(["activations", model, "--output", output, *_flags({"hook": hooks}), *_flags(options)], ep=ep, cwd=cwd, env=env, progress=progress)
    out = os.path.join(os.fspath(cwd), os.fspath(output)) if cwd is not None else os.fspath(output)
    if len(hooks) == 1 and "," not in hooks[0]:
        return np.load(out)
    names = [h for item in hooks for h in item.split(",")]
    return {h: np.load(os.path.join(out, f"{h}.npy")) for h in names}


def report(dictionary: Union[PathLike, Dictionary], *, output: PathLike, ep: Optional[PathLike] = None,
           cwd: Optional[PathLike] = None, env: Optional[Dict[str, str]] = None, progress: bool = True, **options: Any) -> str:
    """`ep report DICT -o OUTPUT …` (a static HTML site) and returns the path of its `index.html`."""
    folder = dictionary.path if isinstance(dictionary, Dictionary) else dictionary
    run(["report", folder, "--output", output, *_flags(options)], ep=ep, cwd=cwd, env=env, progress=progress)
    out = os.path.join(os.fspath(cwd), os.fspath(output)) if cwd is not None else os.fspath(output)
    return os.path.join(out, "index.html")
