"""Holding a `hub.storage.locks` lease around work that uses the app's database session.

A database-backed lease is taken and released on a connection of its own.
On SQLite every transaction begins IMMEDIATE, so a session transaction left
open on either side of the lease would make that connection wait for it
(until the busy timeout). This wrapper ends the session's transaction
before taking the lease and before releasing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hub.storage.locks import hold
from hub.storage.models import db


@contextmanager
def hold_with_session(name: str, ttl_seconds: float, wait_seconds: float = 0.0) -> Iterator[str]:
    """`hub.locks.hold`, for blocks that commit their own writes; what they leave uncommitted is rolled back."""
    db.session.commit()
    with hold(name, ttl_seconds, wait_seconds=wait_seconds) as token:
        try:
            yield token
        finally:
            db.session.rollback()
