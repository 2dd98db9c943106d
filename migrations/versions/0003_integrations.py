"""integrations with encrypted credentials

Revision ID: 0003_integrations
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_integrations"
down_revision = "0002_api_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("external_account_id", sa.String(255), nullable=True),
        sa.Column("end_user_id", sa.String(255), nullable=True),
        sa.Column("webhook_secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("webhook_secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("credentials_ciphertext", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(), nullable=True),
        sa.Column("sync_cursor", sa.Text(), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(), nullable=True),
        sa.Column("health_status", sa.String(32), nullable=True),
        sa.Column("last_health_check_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_integrations_tenant_connector", "integrations", ["tenant_id", "connector"])
    op.create_index("ix_integrations_connector_account", "integrations", ["connector", "external_account_id"])


def downgrade() -> None:
    op.drop_table("integrations")
