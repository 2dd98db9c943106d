"""named leases used as cross-process locks without Redis

Revision ID: 0006_locks
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_locks"
down_revision = "0005_oauth_states"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "locks",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("locks")
