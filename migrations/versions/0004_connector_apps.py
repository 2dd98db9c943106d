"""connector apps: the app-level webhook secret of each connector

Revision ID: 0004_connector_apps
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_connector_apps"
down_revision = "0003_integrations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_apps",
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("webhook_secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("webhook_secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connector_apps")
