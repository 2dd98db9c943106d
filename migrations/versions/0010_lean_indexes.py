"""leaner indexes on the ingest path: partial indexes for unfinished work and the dead-letter list

Every delivery writes one event row and one job row; each index on them is
written too. Finished work (processed events, done jobs) is most rows and
is never looked up by status, so the status indexes cover only what is
still on its way or dead.

Revision ID: 0010_lean_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_lean_indexes"
down_revision = "0009_job_leases"
branch_labels = None
depends_on = None

UNFINISHED_JOBS = sa.text("status IN ('pending', 'processing', 'failed')")
NEEDING_ATTENTION = sa.text("status IN ('failed', 'dead')")


def upgrade() -> None:
    op.drop_index("ix_webhook_events_status", table_name="webhook_events")
    op.drop_index("ix_webhook_events_integration_received", table_name="webhook_events")
    op.create_index(
        "ix_webhook_events_attention", "webhook_events", ["tenant_id", "received_at"],
        postgresql_where=NEEDING_ATTENTION, sqlite_where=NEEDING_ATTENTION,
    )
    op.drop_index("ix_jobs_status_run_at", table_name="jobs")
    op.create_index(
        "ix_jobs_unfinished_run_at", "jobs", ["status", "run_at"],
        postgresql_where=UNFINISHED_JOBS, sqlite_where=UNFINISHED_JOBS,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_unfinished_run_at", table_name="jobs")
    op.create_index("ix_jobs_status_run_at", "jobs", ["status", "run_at"])
    op.drop_index("ix_webhook_events_attention", table_name="webhook_events")
    op.create_index("ix_webhook_events_integration_received", "webhook_events", ["integration_id", "received_at"])
    op.create_index("ix_webhook_events_status", "webhook_events", ["status"])
