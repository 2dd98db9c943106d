"""Every lookup and write on an integration is the tenant's: another tenant's id is unknown and changes nothing.

The services below take the tenant with the integration id; called with
another tenant's, they refuse (404) or skip, and the integration stays as
it was. Runs on SQLite and PostgreSQL through the signed test connector.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.errors import NotFound
from hub.events.store import Recipient, stage_events
from hub.provider.accounts import verify_account
from hub.provider.health import check_integration_health
from hub.provider.subscriptions import renew_subscription
from hub.queue import outbox
from hub.storage.models import Integration, Job, db
from hub.types import NormalizedEvent


def integration_row(pipeline, integration_id: str) -> Integration:
    [row] = [row for row in pipeline.rows(Integration) if row.id == integration_id]
    return row


@pytest.mark.parametrize(
    "service",
    [verify_account, check_integration_health, renew_subscription],
    ids=["account verification", "health check", "subscription renewal"],
)
def test_a_provider_call_for_another_tenants_integration_is_not_found(pipeline, other_tenant, service):
    integration = pipeline.create_integration()
    before = integration_row(pipeline, integration["id"])
    with pipeline.app.app_context(), pytest.raises(NotFound):
        service(other_tenant.id, integration["id"])
    after = integration_row(pipeline, integration["id"])
    assert (after.version, after.health_status, after.account_verified_at) == (before.version, before.health_status, before.account_verified_at)


def test_an_event_moves_only_an_integration_of_the_recipients_own_tenant(pipeline, other_tenant):
    integration = pipeline.create_integration()
    revoking = NormalizedEvent(id="evt_revoke", type="account.deauthorized", data={}, integration_status="revoked")
    with pipeline.app.app_context():
        stage_events("signed", [Recipient(other_tenant.id, integration["id"])], [revoking])
        db.session.commit()
    assert integration_row(pipeline, integration["id"]).status == "active"


def test_a_sync_job_naming_another_tenant_does_not_sync_the_integration(pipeline, other_tenant):
    from hub.queue.queues import enqueue

    integration = pipeline.create_integration()
    with pipeline.app.app_context():
        job = outbox.job_values(queue="sync", kind="sync", tenant_id=other_tenant.id, integration_id=integration["id"])
        enqueue(outbox.add_jobs([job]))
        db.session.commit()
    pipeline.run_queues()
    assert integration_row(pipeline, integration["id"]).last_synced_at is None
    with pipeline.app.app_context():
        assert db.session.execute(sa.select(Job.status)).scalars().all() == ["done"], "skipped: no such integration of that tenant"
