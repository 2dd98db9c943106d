"""destinations and their deliveries: events out to the host application

A destination is a tenant's endpoint with a sealed Standard Webhooks
signing secret; a delivery is one event on its way to one destination, and
the outbox row of the `deliveries` queue (see hub.storage.models).

Revision ID: 0018_destinations
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_destinations"
down_revision = "0017_console_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "destinations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("previous_secret_ciphertext", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("circuit_open_until", sa.DateTime(), nullable=True),
        sa.Column("failing_since", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_destinations_tenant_created", "destinations", ["tenant_id", "created_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("destination_id", sa.String(36), sa.ForeignKey("destinations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("source_key", sa.String(80), nullable=False),
        sa.Column("source_job_id", sa.String(36), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(32), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_response_body", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("destination_id", "source_key", name="uq_deliveries_source"),
    )
    op.create_index("ix_deliveries_tenant_id", "deliveries", ["tenant_id"])
    op.create_index("ix_deliveries_destination_created", "deliveries", ["destination_id", "created_at", "id"])
    op.create_index(
        "ix_deliveries_pending", "deliveries", ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_deliveries_in_flight", "deliveries", ["destination_id"],
        postgresql_where=sa.text("status = 'pending' AND lease_owner IS NOT NULL"),
        sqlite_where=sa.text("status = 'pending' AND lease_owner IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_in_flight", table_name="deliveries")
    op.drop_index("ix_deliveries_pending", table_name="deliveries")
    op.drop_index("ix_deliveries_destination_created", table_name="deliveries")
    op.drop_index("ix_deliveries_tenant_id", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_destinations_tenant_created", table_name="destinations")
    op.drop_table("destinations")
