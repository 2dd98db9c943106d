"""The three Huey queues (webhooks, sync, automation) and the one task they run.

With `REDIS_URL` set the queues are RedisHuey queues named under
`HUB_REDIS_PREFIX`, on the app's Redis connection pool; without it,
SqliteHuey queues in the instance folder (Huey's own backends, chosen once
when the app is built).
Every queue carries the same generic task, `hub.run_job(job_id)`: the job row
says what to do, so a consumer never imports a plugin to find its tasks.
Every queue also carries the periodic maintenance tick; its pieces take
leases, so any number of consumers run each of them once per period. What
the task and the tick run is handed in by the app factory (hub.app): the
queue carries work, it does not know the worker that does it.

Enqueueing is a doorbell, not the record: the job row is already committed,
so a failed enqueue (Redis down) is logged and left to the relay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from huey import Huey, RedisHuey, SqliteHuey, crontab

from hub.queue.outbox import QUEUES, Dispatch, mark_enqueue_lost
from hub.queue.recent import RecentIds
from hub.runtime import current_hub
from hub.storage.redis import namespaced

log = logging.getLogger(__name__)

TASK_NAME = "hub.run_job"
PERIODIC_TASK_NAME = "hub.periodic"


class Queues:
    """The app's Huey instances and their tasks (a part of the app's hub, see hub.runtime)."""

    def __init__(
        self,
        app: Flask,
        *,
        settings: Mapping[str, Any],
        redis: Any,
        run_job: Callable[[str, str], object],
        periodic: Callable[[], object],
    ) -> None:
        """`run_job(job_id, queue)` answers a doorbell; `periodic()` is the maintenance tick; `redis` is the app's client or None."""
        self.app = app
        self._run_job = run_job
        self._run_periodic = periodic
        self.hueys: dict[str, Huey] = {}
        self.tasks: dict[str, Any] = {}
        self.finished = RecentIds()
        for name in QUEUES:
            huey = _build_huey(settings, redis, name)
            self.hueys[name] = huey
            self.tasks[name] = huey.task(name=TASK_NAME)(self._job_runner(name))
            huey.periodic_task(crontab(minute="*"), name=PERIODIC_TASK_NAME)(self._periodic)

    def _job_runner(self, queue: str) -> Any:
        def run(job_id: str) -> None:
            if job_id in self.finished:
                return  # a batch of this process already finished it
            with self.app.app_context():
                self._run_job(job_id, queue)

        return run

    def _periodic(self) -> None:
        with self.app.app_context():
            self._run_periodic()

    def enqueue(self, dispatches: Iterable[Dispatch]) -> int:
        """Put jobs on their queues; returns how many went in. Failures are left to the relay."""
        lost: list[str] = []
        sent = 0
        for dispatch in dispatches:
            task = self.tasks[dispatch.queue]
            try:
                if dispatch.delay_seconds > 0:
                    task.schedule(args=(dispatch.job_id,), delay=dispatch.delay_seconds)
                else:
                    task(dispatch.job_id)
                sent += 1
            except Exception as error:  # the row is committed; the relay will enqueue it
                log.warning("could not enqueue job %s on %s: %s", dispatch.job_id, dispatch.queue, type(error).__name__)
                lost.append(dispatch.job_id)
        if lost:
            try:
                mark_enqueue_lost(lost)
            except Exception as error:
                log.warning("could not flag %d jobs for the relay: %s", len(lost), type(error).__name__)
        return sent

    def depth(self, name: str) -> int:
        return int(self.hueys[name].pending_count())

    def run_pending(self, names: Iterable[str] = QUEUES, max_tasks: int = 10_000) -> int:
        """Run queued and due scheduled tasks in this thread until the queues are empty.

        The same code path as a consumer's worker, without its threads: for
        tests, and for `hub worker --drain`. Returns how many tasks ran.
        """
        ran = 0
        while ran < max_tasks:
            progressed = False
            for name in names:
                huey = self.hueys[name]
                for task in huey.read_schedule():
                    huey.enqueue(task)
                if not huey.pending_count():
                    continue  # a consumer's dequeue would block waiting for work
                task = huey.dequeue()
                if task is None:
                    continue
                huey.execute(task)
                ran += 1
                progressed = True
            if not progressed:
                return ran
        return ran


def _build_huey(settings: Mapping[str, Any], redis: Any, queue: str) -> Huey:
    if redis is not None:
        return RedisHuey(
            name=namespaced(settings["HUB_REDIS_PREFIX"], queue), connection_pool=redis.connection_pool,
            clean_name=False, results=False, utc=True,
        )
    path = Path(settings["HUB_INSTANCE_PATH"]) / "huey.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name=queue, filename=str(path), results=False, utc=True)


def current_queues() -> Queues:
    return current_hub().part(Queues)


def enqueue(dispatches: Iterable[Dispatch]) -> int:
    return current_queues().enqueue(dispatches)
