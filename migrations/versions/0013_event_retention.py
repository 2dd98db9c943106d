"""event retention: finished events indexed by age, for the periodic prune

Events are no longer kept forever: processed events older than
HUB_EVENT_RETENTION_DAYS and dead ones older than
HUB_DEAD_EVENT_RETENTION_DAYS are deleted, a small batch per transaction,
together with their job rows. The prune reads finished events oldest first
per status; only finished events enter this index (an event enters it when
it is processed or dies, never on the ingest path).

Jobs still carry no foreign key to events (see 0011): the prune deletes an
event only when none of its jobs is still on its way, and deletes the
event's jobs in the same transaction, so no job ever names a missing event.

Revision ID: 0013_event_retention
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_event_retention"
down_revision = "0012_tenancy"
branch_labels = None
depends_on = None

FINISHED_EVENTS = sa.text("status IN ('processed', 'dead')")


def upgrade() -> None:
    op.create_index(
        "ix_webhook_events_finished", "webhook_events", ["status", "received_at"],
        postgresql_where=FINISHED_EVENTS, sqlite_where=FINISHED_EVENTS,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_events_finished", table_name="webhook_events")
