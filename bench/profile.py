"""`--profile DIR`: py-spy samples the server through a workload, writing a
flame graph (DIR/<workload>.svg) and the collapsed stacks (DIR/<workload>.txt),
and this module prints where the time went: the functions with the most
samples on the stack (inclusive) and at its top (self), for each thread.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 200  # samples per second; --nonblocking, so the server is never paused


def py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


class Profiler:
    """py-spy attached to one PID for the life of a `with` block."""

    def __init__(self, pid: int, out: Path, *, idle: bool = False) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.out = out
        self.command = [
            exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(RATE),
            "--threads",
            "--nonblocking",
            "--format",
            "raw",
            "-o",
            str(out.with_suffix(".txt")),
        ]
        if idle:
            self.command.append("--idle")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        collapsed = self.out.with_suffix(".txt")
        if collapsed.exists():
            _flamegraph(collapsed, self.out.with_suffix(".svg"))


def _flamegraph(collapsed: Path, svg: Path) -> None:
    """py-spy's raw output is the collapsed-stack format; flamegraph.pl, if present,
    draws it. Without it the .txt is still readable by speedscope or inferno."""
    tool = shutil.which("flamegraph.pl") or shutil.which("inferno-flamegraph")
    if tool is not None:
        with open(svg, "wb") as out:
            subprocess.run([tool, str(collapsed)], stdout=out, check=False)


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^)]*?)(?::\d+)?\)$")


def _frame_name(frame: str) -> str:
    """'handle (accepted/http/app.py:73)' -> 'accepted/http/app.py:handle'."""
    m = _FRAME.match(frame.strip())
    if m is None:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{m.group('func')}"


# Innermost frame first: the first that matches names the layer a sample is charged to.
LAYERS: tuple[tuple[str, str], ...] = (
    ("accepted/store/", "store (SQL, rows, writer hand-off)"),
    ("accepted/service/", "service (rules, ids, wake-ups)"),
    ("accepted/http/render", "render (job JSON)"),
    ("accepted/http/", "accepted HTTP layer (parse, headers, dispatch)"),
    ("uvicorn/", "uvicorn protocol + ASGI send"),
    ("asyncio/", "event loop (uvloop C: epoll, socket I/O, HTTP parsing, tasks)"),
    ("granian", "granian"),
)


def layers(collapsed: Path) -> dict[str, dict[str, float]]:
    """Per thread, the share of samples charged to each layer of the code."""
    out: dict[str, Counter[str]] = {}
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "all"
        layer = "other"
        for frame in reversed(frames):
            name = _frame_name(frame)
            match = next((label for prefix, label in LAYERS if name.startswith(prefix)), None)
            if match is not None:
                layer = match
                break
        out.setdefault(thread, Counter())[layer] += int(count)
    return {
        thread: {k: round(100 * v / sum(c.values()), 1) for k, v in c.most_common()}
        for thread, c in out.items()
    }


def summarize(collapsed: Path, top: int = 25) -> str:
    """Inclusive and self sample shares of the busiest functions, per thread."""
    per_thread: dict[str, tuple[Counter[str], Counter[str], list[int]]] = {}
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "all"
        body = [_frame_name(f) for f in frames if not f.startswith(("thread", "process"))]
        inclusive, own, total = per_thread.setdefault(thread, (Counter(), Counter(), [0]))
        total[0] += int(count)
        for name in set(body):
            inclusive[name] += int(count)
        if body:
            own[body[-1]] += int(count)
    lines = ["== by layer (% of each thread's samples)"]
    for thread, shares in layers(collapsed).items():
        lines.append(f"  {thread}")
        lines += [f"    {share:5.1f}  {label}" for label, share in shares.items()]
    for thread, (inclusive, own, total) in sorted(per_thread.items(), key=lambda t: -t[1][2][0]):
        n = total[0]
        lines.append(f"== {thread}: {n} samples ({n / RATE:.1f} s at {RATE} Hz)")
        lines.append("   self%  incl%  function")
        names = sorted(inclusive, key=lambda k: -inclusive[k])[:top]
        for name in names:
            lines.append(f"  {100 * own[name] / n:5.1f}  {100 * inclusive[name] / n:5.1f}  {name}")
        lines.append("  -- by self time:")
        for name, c in own.most_common(top):
            lines.append(f"  {100 * c / n:5.1f}  {100 * inclusive[name] / n:5.1f}  {name}")
    return "\n".join(lines)
