"""A bounded memory of job ids this process has finished.

Only a shortcut: a consumer answers the doorbell of a job its own batch
already finished without a database round trip. Whatever it does not
remember, the database decides, so losing it (a restart) costs time, never
correctness, and no other process ever needs it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class RecentIds:
    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, ids: list[str]) -> None:
        with self._lock:
            for job_id in ids:
                self._ids[job_id] = None
            while len(self._ids) > self.size:
                self._ids.popitem(last=False)

    def __contains__(self, job_id: object) -> bool:
        with self._lock:
            return job_id in self._ids

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)
