"""An event processor for the pipeline's tests that records what it saw, across processes.

Each call appends `<event id> <type>` to `processed.log` in the folder named by
`HUBTEST_RECORD_DIR`. The event's data steers it: `sleep` (seconds) makes it
slow on an event's first start only, `fail` makes it always raise, `fail_times` makes it raise that many
times first (counted in files, so retries in other processes count too).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from hub import hookimpl


def _folder() -> Path | None:
    folder = os.environ.get("HUBTEST_RECORD_DIR")
    return Path(folder) if folder else None


def _count(folder: Path, name: str) -> int:
    path = folder / f"{name}.count"
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


@hookimpl
def process_event(event: dict[str, Any]) -> None:
    folder = _folder()
    if folder is None:
        return
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    with open(folder / "started.log", "a") as log:
        log.write(f"{event['id']} {os.getpid()}\n")
    if data.get("sleep") and _count(folder, f"{event['id']}.started") == 1:
        time.sleep(float(data["sleep"]))
    if data.get("fail"):
        raise RuntimeError("the processor refused this event")
    if data.get("fail_times") and _count(folder, event["id"]) <= int(data["fail_times"]):
        raise RuntimeError("the processor failed, for now")
    with open(folder / "processed.log", "a") as log:
        log.write(f"{event['id']} {event['type']}\n")


@hookimpl
def automate(event: dict[str, Any]) -> None:
    folder = _folder()
    if folder is None:
        return
    with open(folder / "automated.log", "a") as log:
        log.write(f"{event['id']} {event['type']}\n")
