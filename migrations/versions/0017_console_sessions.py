"""console sessions: the operators' signed-in browsers, when Redis does not hold them

A row is keyed by the hash of the session cookie's value and names the
tenant and the API key that signed in (never the key itself).

Revision ID: 0017_console_sessions
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_console_sessions"
down_revision = "0016_data_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("api_key_id", sa.String(36), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("console_sessions")
