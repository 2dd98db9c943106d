"""data keys: a wrapped AES-256 data key per tenant, and tenants that can be deleted

Credentials and webhook secrets are sealed with their tenant's data key,
which only the key provider (KMS_KEY) can unwrap; `hub tenants delete`
destroys a tenant's data keys (see hub/storage/envelope.py).

Revision ID: 0016_data_keys
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_data_keys"
down_revision = "0014_key_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("master_key_id", sa.String(2048), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_data_keys_tenant_created", "data_keys", ["tenant_id", "created_at"])
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("deleted_at")
    op.drop_index("ix_data_keys_tenant_created", table_name="data_keys")
    op.drop_table("data_keys")
