"""Profile the hub under load with py-spy: the webhook request path and the worker's job path.

    .venv/bin/python bench/profile.py [--seconds 15] [--top 25] [--only ingest|worker]

Ingest: the hub under gunicorn exactly as in ingest.py, driven by wrk; py-spy
samples every gunicorn worker (`--subprocesses`) during the measured run.
Worker: `hub worker` as in processing.py, sampled while it works through
the queue.

Two samplings of the same run, side by side:
- `gil`: only the thread holding the GIL (py-spy --gil), i.e. where the
  Python CPU goes. On this 2-core machine CPU is the scarce resource, so this
  is the profile that says what to remove.
- `wall`: every thread that is not idle, i.e. where a request's time goes,
  waiting on PostgreSQL included.

For each, the functions with the most samples inclusive (the function and
everything it called) and self (the function itself), as a share of all
samples. Raw stacks (collapsed; feed them to flamegraph.pl or speedscope)
are kept in bench/results/.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, VENV_BIN, machine, print_table, write_results  # noqa: E402

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# Frames every stack goes through (threads, gunicorn, Flask, Huey plumbing): left out of the tables.
PLUMBING = ("threading.py", "concurrent/futures/", "gunicorn/workers/", "gunicorn/arbiter.py", "huey/consumer.py")


def py_spy() -> str:
    path = VENV_BIN / "py-spy"
    if not path.exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install -r bench/requirements.txt")
    return str(path)


def start_py_spy(pid: int, seconds: float, output: Path, *, gil: bool, subprocesses: bool) -> subprocess.Popen:
    command = [
        py_spy(), "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--nonblocking",
        "--duration", str(max(1, int(seconds))), "--output", str(output),
    ]
    if gil:
        command.append("--gil")
    if subprocesses:
        command.append("--subprocesses")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def observer(label: str, seconds: float, subprocesses: bool, outputs: dict[str, Path]) -> Callable[[int], Callable[[], None]]:
    """An `observe` callback for ingest.run_hub / processing.run_hub_worker: GIL and wall py-spy side by side."""

    def observe(pid: int) -> Callable[[], None]:
        RESULTS.mkdir(exist_ok=True)
        spies = {}
        for kind in ("gil", "wall"):
            outputs[kind] = RESULTS / f"profile-{label}-{kind}.txt"
            spies[kind] = start_py_spy(pid, seconds, outputs[kind], gil=kind == "gil", subprocesses=subprocesses)

        def finish() -> None:
            for kind, spy in spies.items():
                text = spy.communicate(timeout=seconds + 60)[0].decode(errors="replace")
                if spy.returncode != 0 or not outputs[kind].exists():
                    raise RuntimeError(f"py-spy ({kind}) failed: {text[-2000:]}")

        return finish

    return observe


def _frame_name(frame: str, with_line: bool) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    location = match["file"]
    if with_line and match["line"]:
        location += f":{match['line']}"
    return f"{match['function']} ({location})"


def summarize(raw: Path, top: int) -> dict:
    """Inclusive and self shares per function from py-spy's collapsed stacks."""
    total = 0
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        total += samples
        if not frames:
            leaf["(no Python frame)"] += samples
            continue
        leaf[_frame_name(frames[-1], with_line=True) or "(no Python frame)"] += samples
        for name in {_frame_name(f, with_line=False) for f in frames if f}:
            inclusive[name] += samples
    share = lambda n: round(100 * n / total, 1) if total else 0.0  # noqa: E731
    return {
        "samples": total,
        "hub": [
            {"function": name, "percent": share(n)}
            for name, n in inclusive.most_common()
            if name.split(" (", 1)[-1].startswith(("hub/", "hub_stripe/"))
        ][:top],
        "inclusive": [
            {"function": name, "percent": share(n)}
            for name, n in inclusive.most_common()
            if not any(p in name for p in PLUMBING)
        ][:top],
        "self": [{"function": name, "percent": share(n)} for name, n in leaf.most_common(top)],
    }


def show(title: str, profile: dict) -> None:
    rows = [dict(rank=i + 1, percent=e["percent"], function=e["function"]) for i, e in enumerate(profile["hub"])]
    print_table(f"{title}: the hub's own functions, inclusive ({profile['samples']} samples)", rows, ["rank", "percent", "function"])
    rows = [dict(rank=i + 1, percent=e["percent"], function=e["function"]) for i, e in enumerate(profile["inclusive"])]
    print_table(f"{title}: inclusive ({profile['samples']} samples)", rows, ["rank", "percent", "function"])
    rows = [dict(rank=i + 1, percent=e["percent"], function=e["function"]) for i, e in enumerate(profile["self"])]
    print_table(f"{title}: self", rows, ["rank", "percent", "function"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15, help="profiled seconds (default 15)")
    parser.add_argument("--top", type=int, default=25, help="entries per table (default 25)")
    parser.add_argument("--only", choices=("ingest", "worker"), default=None)
    parser.add_argument("--events", type=int, default=25000, help="events for the worker profile (default 25000, enough to keep it busy while sampled)")
    args = parser.parse_args()

    from ingest import run_hub
    from processing import run_hub_worker

    report: dict = {
        "benchmark": "profile", "machine": machine(),
        "settings": {"seconds": args.seconds, "sampler": "py-spy record --rate 200 --nonblocking"},
    }
    if args.only in (None, "ingest"):
        outputs: dict[str, Path] = {}
        run = run_hub(args.seconds + 2, 3, observe=observer("ingest", args.seconds, True, outputs))
        report["ingest"] = {"run_under_profiler": {k: run[k] for k in ("requests_per_second", "p50_ms", "p99_ms", "errors")}}
        for kind, path in outputs.items():
            report["ingest"][kind] = summarize(path, args.top)
            report["ingest"][kind]["raw"] = str(path.relative_to(RESULTS.parent.parent))
            show(f"Ingest request path, {kind}", report["ingest"][kind])
    if args.only in (None, "worker"):
        outputs = {}
        run = run_hub_worker(args.events, 2, 120, observe=observer("worker", args.seconds, False, outputs))
        report["worker"] = {"run_under_profiler": {k: run[k] for k in ("events_per_second", "processed", "timed_out")}}
        for kind, path in outputs.items():
            report["worker"][kind] = summarize(path, args.top)
            report["worker"][kind]["raw"] = str(path.relative_to(RESULTS.parent.parent))
            show(f"Worker job path, {kind}", report["worker"][kind])
    write_results("profile", report)


if __name__ == "__main__":
    main()
