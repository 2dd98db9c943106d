"""key checks: a known value sealed under each key id that has sealed stored data

A wrong but well-formed ENCRYPTION_KEY would otherwise start and report
ready while every credential read fails; see hub/key_check.py.

Revision ID: 0014_key_checks
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_key_checks"
down_revision = "0013_event_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_checks",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("key_checks")
