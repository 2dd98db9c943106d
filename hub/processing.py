"""What the webhooks and automation queues do with an event.

A webhook job hands the stored event, as a CloudEvent, to every
`process_event` implementation; when all succeed it fans out one job to the
automation queue (if any plugin implements `automate`). The plugins run
with no database transaction open: a slow processor holds no lock.
"""

from __future__ import annotations

from typing import Any

from hub import jobs
from hub.events import cloud_event
from hub.models import WebhookEvent, db
from hub.state import current_hub


def _load_cloud_event(claimed: jobs.Claim) -> dict[str, Any]:
    row = db.session.get(WebhookEvent, claimed.event_id)
    if row is None:
        raise LookupError(f"event {claimed.event_id} no longer exists")
    event = cloud_event(row)
    db.session.commit()  # end the read before plugin code runs
    return event


def run_event_processors(claimed: jobs.Claim) -> list[jobs.Dispatch]:
    plugins = current_hub().plugins
    plugins.process_event(_load_cloud_event(claimed))
    if not plugins.implemented("automate"):
        return []
    return jobs.add_jobs([
        jobs.job_values(
            queue="automation", kind="automation", tenant_id=claimed.tenant_id,
            event_id=claimed.event_id, integration_id=claimed.integration_id,
        )
    ])


def run_automation(claimed: jobs.Claim) -> list[jobs.Dispatch]:
    current_hub().plugins.automate(_load_cloud_event(claimed))
    return []
