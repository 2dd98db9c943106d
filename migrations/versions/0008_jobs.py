"""jobs: the durable outbox behind the Huey queues

Revision ID: 0008_jobs
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_jobs"
down_revision = "0007_webhook_events_dedupe"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("queue", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=True),
        sa.Column("event_id", sa.String(36), sa.ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=True),
        sa.Column("integration_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", sa.DateTime(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_jobs_status_run_at", "jobs", ["status", "run_at"])
    op.create_index("ix_jobs_event_id", "jobs", ["event_id"])


def downgrade() -> None:
    op.drop_table("jobs")
