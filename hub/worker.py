"""`hub worker`: Huey consumers for the hub's queues.

One queue runs in this process (Huey's consumer, with worker threads and
its scheduler). Several queues run as one child process per queue, each a
`hub worker --queue NAME`, so a queue's consumer has its own signals and
its own connections; this process forwards SIGTERM/SIGINT to the children
and exits when they do. If a child dies, the others are stopped too and
the exit code says so, leaving the restart to the process manager.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from huey.consumer import Consumer

from hub.queues import current_queues

log = logging.getLogger(__name__)


def run_consumer(queue: str, *, workers: int, periodic: bool) -> None:
    huey = current_queues().hueys[queue]
    log.info("consuming queue %s with %d worker threads", queue, workers)
    consumer = Consumer(huey, workers=workers, periodic=periodic, worker_type="thread", check_worker_health=True)
    consumer.run()


def supervise(queues: list[str], *, workers: int, periodic: bool) -> int:
    """Run one child consumer per queue until a signal or a child's exit; returns the exit code."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    for queue in queues:
        command = [sys.executable, "-m", "hub", "worker", "--queue", queue, "--workers", str(workers)]
        command.append("--periodic" if periodic else "--no-periodic")
        children[queue] = subprocess.Popen(command, env=os.environ.copy())
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
