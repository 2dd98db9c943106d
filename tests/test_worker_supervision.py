"""`hub worker` with several queues: its consumers never outlive it, even when it is SIGKILLed.

These start real `hub worker` processes on the test database and watch
them through /proc (Linux).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hub.testing import clean_environ
from hub.worker.supervisor import PARENT_PID_ENV

GUARD_SECONDS = 60  # only keeps a broken run from hanging; nothing is timed

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")


def worker_env(app) -> dict[str, str]:
    env = clean_environ() | {
        name: str(app.config[name]) for name in ("DATABASE_URL", "SECRET_KEY", "KMS_KEY", "ENCRYPTION_KEY", "HUB_INSTANCE_PATH", "HUB_REDIS_PREFIX")
    }
    return env | {"PYTHONPATH": os.pathsep.join(sys.path)}


def state(pid: int) -> str | None:
    """The process state letter from /proc, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def running(pid: int) -> bool:
    return state(pid) not in (None, "Z", "X")  # a zombie has exited; only its reaping is left


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def lines_of(stream) -> "queue.Queue[str]":
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + GUARD_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_consumers_stop_when_the_supervisor_is_killed(app):
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "hub", "worker", "--queue", "webhooks,sync,automation", "--no-periodic"],
        env=worker_env(app), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    consumers: list[int] = []
    try:
        log = lines_of(supervisor.stderr)
        started = 0
        deadline = time.monotonic() + GUARD_SECONDS
        while started < 3:  # every consumer is up: its death signal and parent watch are in place
            line = log.get(timeout=max(0.1, deadline - time.monotonic()))
            started += "consuming queue" in line
        consumers = children_of(supervisor.pid)
        assert len(consumers) == 3 and all(running(pid) for pid in consumers)

        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(GUARD_SECONDS)

        wait_for(lambda: not any(running(pid) for pid in consumers), "a consumer outlived its killed supervisor")
    finally:
        for pid in [supervisor.pid, *consumers]:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_consumer_whose_supervisor_is_already_gone_does_not_start(app):
    """The parent check every platform has: the child's parent is not the supervisor it was started by."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(GUARD_SECONDS)
    env = worker_env(app) | {PARENT_PID_ENV: str(gone.pid)}
    result = subprocess.run(
        [sys.executable, "-m", "hub", "worker", "--queue", "webhooks", "--no-periodic"],
        env=env, capture_output=True, text=True, timeout=GUARD_SECONDS,
    )
    assert "supervisor" in result.stderr and "is gone" in result.stderr
    assert "consuming queue" not in result.stderr
