"""What the webhooks and automation queues do with events.

A webhook job hands the stored event, as a CloudEvent, to every
`process_event` implementation; when all succeed it fans out one job to the
automation queue (if any plugin implements `automate`), whose job hands the
same CloudEvent to every `automate` implementation. Events are loaded a
batch at a time and the plugins run with no database transaction open: a
slow processor holds no lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from hub.events.queries import cloud_event
from hub.queue import deliveries, outbox
from hub.runtime import current_hub
from hub.storage.models import WebhookEvent, db

EVENT_COLUMNS = tuple(WebhookEvent.__table__.c)


def load_cloud_events(event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The CloudEvents of these stored events, by event id, read in one query."""
    events = _read_cloud_events(event_ids)
    db.session.commit()  # end the read before plugin code runs
    return events


def _read_cloud_events(event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """`load_cloud_events` within the caller's transaction."""
    wanted = sorted({event_id for event_id in event_ids if event_id})
    if not wanted:
        return {}
    rows = db.session.execute(sa.select(*EVENT_COLUMNS).where(WebhookEvent.id.in_(wanted))).all()
    return {row.id: cloud_event(row) for row in rows}


def process_event(event: dict[str, Any]) -> None:
    """An event job: every `process_event` implementation; raises to make the event retry."""
    current_hub().plugins.process_event(event)


def automate(event: dict[str, Any]) -> None:
    """An automation job: every `automate` implementation; raises to make the automation retry."""
    current_hub().plugins.automate(event)


def automation_jobs(finished: list[outbox.Claim]) -> list[outbox.Dispatch]:
    """Stage one automation job per processed event, when any plugin automates."""
    events = [c for c in finished if c.kind == "event"]
    if not events or not current_hub().plugins.implemented("automate"):
        return []
    return outbox.add_jobs([
        outbox.job_values(queue="automation", kind="automation", tenant_id=c.tenant_id, event_id=c.event_id, integration_id=c.integration_id)
        for c in events
    ])


def event_deliveries(finished: list[outbox.Claim], events: dict[str, dict[str, Any]]) -> list[outbox.Dispatch]:
    """Stage one delivery per processed event and destination that wants it (hub.queue.deliveries), in the finish's transaction."""
    announced = [(events[c.event_id], c.job_id) for c in finished if c.kind == "event" and c.event_id in events]
    return deliveries.fan_out(deliveries.event_announcements(announced)) if announced else []


def dead_event_deliveries(dead: list[tuple[str, str]]) -> list[outbox.Dispatch]:
    """Stage `hub.event.dead` deliveries for events whose jobs died (event id, job id), in the transaction that made them dead."""
    events = _read_cloud_events(event_id for event_id, _ in dead)
    announced = [(events[event_id], job_id) for event_id, job_id in dead if event_id in events]
    return deliveries.fan_out(deliveries.event_announcements(announced, dead=True)) if announced else []
