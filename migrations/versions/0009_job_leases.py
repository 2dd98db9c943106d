"""jobs: the lease owner, so only the consumer holding a job can finish it

Revision ID: 0009_job_leases
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_job_leases"
down_revision = "0008_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(32), nullable=True))
    op.create_index("ix_jobs_integration_status", "jobs", ["integration_id", "status"])
    op.create_index("ix_webhook_events_integration_received", "webhook_events", ["integration_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_integration_received", table_name="webhook_events")
    op.drop_index("ix_jobs_integration_status", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease_owner")
