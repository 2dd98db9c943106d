"""The processing floor: a bare Huey consumer running a no-op task on the same Redis.

Built like the hub's queues (RedisHuey, a connection pool with the same
timeouts, no result store, thread workers), with one task that does
nothing. A SIGNAL_COMPLETE handler counts completed tasks in memory and,
when the expected number is reached, writes the first and last completion
times to Redis once, so counting costs no Redis call per task.

    BARE_REDIS_URL=redis://... BARE_HUEY_NAME=... BARE_EXPECTED=20000 BARE_WORKERS=2 python bare_consumer.py
"""

from __future__ import annotations

import json
import os
import threading
import time

from huey import RedisHuey
from huey.consumer import Consumer
from huey.signals import SIGNAL_COMPLETE
from redis import ConnectionPool, Redis

REDIS_URL = os.environ.get("BARE_REDIS_URL", "redis://127.0.0.1:6379/0")
NAME = os.environ.get("BARE_HUEY_NAME", "bare-bench")

pool = ConnectionPool.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
huey = RedisHuey(name=NAME, connection_pool=pool, clean_name=False, results=False, utc=True)


@huey.task(name="bench.noop")
def noop(job_id: str) -> None:
    return None


def done_key() -> str:
    return f"{NAME}:done"


def main() -> None:
    expected = int(os.environ["BARE_EXPECTED"])
    lock = threading.Lock()
    state: dict = {"count": 0, "first": None}
    reporter = Redis.from_url(REDIS_URL)

    @huey.signal(SIGNAL_COMPLETE)
    def completed(signal: str, task: object) -> None:
        now = time.time()
        with lock:
            state["count"] += 1
            if state["first"] is None:
                state["first"] = now
            if state["count"] == expected:
                reporter.set(done_key(), json.dumps({"first": state["first"], "last": now, "count": state["count"]}))

    consumer = Consumer(huey, workers=int(os.environ.get("BARE_WORKERS", "2")), worker_type="thread", periodic=False, check_worker_health=True)
    consumer.run()


if __name__ == "__main__":
    # Run the module's copy under its import name, so task names match the enqueuer's.
    import bare_consumer

    bare_consumer.main()
