"""fewer writes per delivery: no foreign keys on the ingest tables, sync jobs indexed alone

Every delivery inserts an event and its job. Each foreign key makes the
insert lock the parent row (the tenant, the integration, the event), a lock
written to the WAL every time and shared by every delivery in flight for the
same integration. Tenants, integrations and events are never deleted (an
integration is soft-deleted and its endpoint answers 410); an event is
written only for the integration the same statement has just found live, and
an event's job in the same statement as the event, so the keys guarded
nothing the code does not. Jobs are looked up by integration only for syncs,
so only sync jobs are indexed by integration.

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
FOREIGN_KEYS = {"webhook_events": {"tenant_id": "tenants", "integration_id": "integrations"}, "jobs": {"event_id": "webhook_events"}}


def _name(table: str, column: str) -> str:
    """PostgreSQL's own name for the key; on SQLite the batch-mode convention's."""
    return f"fk_{table}_{column}" if op.get_bind().dialect.name == "sqlite" else f"{table}_{column}_fkey"


def _drop_foreign_keys(table: str) -> None:
    columns = FOREIGN_KEYS[table]
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(table, naming_convention=SQLITE_NAMES) as batch:
            for column in columns:
                batch.drop_constraint(_name(table, column), type_="foreignkey")
    else:
        for column in columns:
            op.drop_constraint(_name(table, column), table, type_="foreignkey")


def upgrade() -> None:
    _drop_foreign_keys("jobs")
    _drop_foreign_keys("webhook_events")
    op.drop_index("ix_jobs_integration_status", table_name="jobs")
    op.create_index(
        "ix_jobs_sync_integration", "jobs", ["integration_id", "status"],
        postgresql_where=SYNC_JOBS, sqlite_where=SYNC_JOBS,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_sync_integration", table_name="jobs")
    op.create_index("ix_jobs_integration_status", "jobs", ["integration_id", "status"])
    for table in ("webhook_events", "jobs"):
        with op.batch_alter_table(table) as batch:
            for column, parent in FOREIGN_KEYS[table].items():
                batch.create_foreign_key(_name(table, column), parent, [column], ["id"], ondelete="CASCADE")
