"""`hub worker`: Huey consumers for the hub's queues.

One queue runs in this process (Huey's consumer, with worker threads and
its scheduler). Several queues run as one child process per queue, each a
`hub worker --queue NAME`, so a queue's consumer has its own signals and
its own connections; this process forwards SIGTERM/SIGINT to the children
and exits when they do. If a child dies, the others are stopped too and
the exit code says so, leaving the restart to the process manager.

The children stop when the supervisor dies, even by SIGKILL (which it
cannot forward): on Linux the kernel sends each child SIGTERM when its
parent dies (`prctl(PR_SET_PDEATHSIG)`), and on every platform each child
also watches its parent's pid and stops itself once it changes. Otherwise a
restarted supervisor would start a second set of consumers beside orphans
nobody stops.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from huey.consumer import Consumer

from hub.queue.queues import current_queues

log = logging.getLogger(__name__)


# Set by `supervise` in each child's environment: the pid the child must outlive no longer than.
PARENT_PID_ENV = "HUB_WORKER_SUPERVISOR_PID"
PARENT_WATCH_SECONDS = 1.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _ask_for_signal_on_parent_death(signum: int) -> bool:
    """Linux: have the kernel send `signum` to this process when its parent dies. False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    """Stop this process (as the supervisor would: SIGTERM) once its parent is no longer `parent_pid`."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_WATCH_SECONDS)
    log.warning("the worker supervisor (pid %d) is gone; stopping this consumer", parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)


def stop_with_supervisor() -> bool:
    """In a child of `supervise`, arrange to stop when the supervisor dies; False if it is already gone.

    The death signal is asked for first and the parent checked after, so a
    supervisor that dies in between is still noticed.
    """
    expected = os.environ.pop(PARENT_PID_ENV, None)
    if not expected or not expected.isdigit():
        return True
    parent_pid = int(expected)
    _ask_for_signal_on_parent_death(signal.SIGTERM)
    if os.getppid() != parent_pid:
        log.warning("the worker supervisor (pid %d) is gone; not starting", parent_pid)
        return False
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="supervisor-watch", daemon=True).start()
    return True


# A delivery attempt mostly waits on a receiver, so the deliveries queue runs this many threads per worker;
# with each destination's attempts in flight capped (HUB_DELIVERY_CONCURRENCY_PER_DESTINATION), a hanging
# receiver holds a few of them and the rest keep delivering to everyone else.
DELIVERY_THREADS_PER_WORKER = 4


def consumer_threads(queue: str, workers: int) -> int:
    return workers * DELIVERY_THREADS_PER_WORKER if queue == "deliveries" else workers


def run_consumer(queue: str, *, workers: int, periodic: bool) -> None:
    if not stop_with_supervisor():
        return
    workers = consumer_threads(queue, workers)
    huey = current_queues().hueys[queue]
    log.info("consuming queue %s with %d worker threads", queue, workers)
    consumer = Consumer(huey, workers=workers, periodic=periodic, worker_type="thread", check_worker_health=True)
    consumer.run()


def supervise(queues: list[str], *, workers: int, periodic: bool) -> int:
    """Run one child consumer per queue until a signal or a child's exit; returns the exit code."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    env = os.environ | {PARENT_PID_ENV: str(os.getpid())}
    for queue in queues:
        command = [sys.executable, "-m", "hub", "worker", "--queue", queue, "--workers", str(workers)]
        command.append("--periodic" if periodic else "--no-periodic")
        children[queue] = subprocess.Popen(command, env=env)
    stopping: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    exit_code = 0
    while True:
        exited = {queue: child.returncode for queue, child in children.items() if child.poll() is not None}
        if len(exited) == len(children):
            break
        if exited and not stopping:
            queue, code = next(iter(exited.items()))
            log.error("the %s consumer exited with code %s; stopping the others", queue, code)
            exit_code = code or 1
            forward(signal.SIGTERM, None)
        time.sleep(0.2)
    return exit_code
