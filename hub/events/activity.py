"""A tenant's events per hour over the last day, by connector and status: what the console's chart draws.

Counted in the database (one grouped query on the tenant's received-at
index), so the chart costs the same for ten events or a million.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from hub.storage.models import WebhookEvent, db, utcnow

HOURS = 24
# The chart's series: every event received, and of those the ones processed and the dead.
SERIES = ("received", "processed", "dead")


@dataclass
class ConnectorActivity:
    connector: str
    hours: list[datetime]
    counts: dict[str, list[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts["received"])


def _hour_bucket() -> sa.ColumnElement:
    if db.engine.dialect.name == "postgresql":
        return sa.func.date_trunc("hour", WebhookEvent.received_at)
    return sa.func.strftime("%Y-%m-%d %H:00:00", WebhookEvent.received_at)


def _as_hour(value: datetime | str) -> datetime:
    hour = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return hour.replace(tzinfo=timezone.utc) if hour.tzinfo is None else hour.astimezone(timezone.utc)


def hourly_activity(tenant_id: str, now: datetime | None = None) -> list[ConnectorActivity]:
    """Per connector (busiest first), the count of each series in each of the last 24 hours (oldest first)."""
    now = now or utcnow()
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    hours = [current_hour - timedelta(hours=HOURS - 1 - index) for index in range(HOURS)]
    bucket = _hour_bucket().label("hour")
    rows = db.session.execute(
        sa.select(WebhookEvent.connector, bucket, WebhookEvent.status, sa.func.count())
        .where(WebhookEvent.tenant_id == tenant_id, WebhookEvent.received_at >= hours[0])
        .group_by(WebhookEvent.connector, bucket, WebhookEvent.status)
    ).all()
    index_of = {hour: index for index, hour in enumerate(hours)}
    found: dict[str, ConnectorActivity] = defaultdict(lambda: ConnectorActivity("", hours))
    for connector, hour, status, count in rows:
        index = index_of.get(_as_hour(hour))
        if index is None:
            continue
        activity = found[connector]
        if not activity.connector:
            activity.connector = connector
            activity.counts = {series: [0] * HOURS for series in SERIES}
        activity.counts["received"][index] += count
        if status in ("processed", "dead"):
            activity.counts[status][index] += count
    return sorted(found.values(), key=lambda activity: (-activity.total, activity.connector))
