"""fewer writes per delivery: no foreign keys from events to their tenant and integration, sync jobs indexed alone

Every delivery inserts an event and its job. A foreign key from the event to
its integration and tenant makes each insert lock both parent rows; with many
deliveries for one integration in flight at once those locks become shared
multi-transaction locks on the same two rows, written to the WAL each time.
Integrations and tenants are never deleted (an integration is soft-deleted
and its endpoint answers 410), and the ingest path writes an event only for
the integration it has just looked up, so the keys guarded nothing the code
does not. Jobs are looked up by integration only for syncs, so only sync
jobs are indexed by integration.

Revision ID: 0011_ingest_writes
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_ingest_writes"
down_revision = "0010_lean_indexes"
branch_labels = None
depends_on = None

SYNC_JOBS = sa.text("kind = 'sync'")
# SQLite keeps foreign keys unnamed; batch mode finds them by this convention.
SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s"}
PARENTS = {"tenant_id": "tenants", "integration_id": "integrations"}


def _drop_event_foreign_keys() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("webhook_events", naming_convention=SQLITE_NAMES) as batch:
            for column in PARENTS:
                batch.drop_constraint(f"fk_webhook_events_{column}", type_="foreignkey")
    else:
        for column in PARENTS:
            op.drop_constraint(f"webhook_events_{column}_fkey", "webhook_events", type_="foreignkey")


def upgrade() -> None:
    _drop_event_foreign_keys()
    op.drop_index("ix_jobs_integration_status", table_name="jobs")
    op.create_index(
        "ix_jobs_sync_integration", "jobs", ["integration_id", "status"],
        postgresql_where=SYNC_JOBS, sqlite_where=SYNC_JOBS,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_sync_integration", table_name="jobs")
    op.create_index("ix_jobs_integration_status", "jobs", ["integration_id", "status"])
    with op.batch_alter_table("webhook_events") as batch:
        for column, parent in PARENTS.items():
            batch.create_foreign_key(f"webhook_events_{column}_fkey", parent, [column], ["id"], ondelete="CASCADE")
