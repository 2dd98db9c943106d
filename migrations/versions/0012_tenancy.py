"""tenancy: named API keys with their last use, accounts learned from the provider, paused jobs

- `api_keys.name` and `api_keys.last_used_at`: a tenant holds several keys
  at once (rotation without downtime) and needs to tell them apart.
- `integrations.account_verified_at`: when the provider itself named the
  account in `external_account_id` (an OAuth token response, or a call made
  with the tenant's own credentials). App-level webhooks are routed only to
  integrations whose account was verified. Rows that exist before this
  revision keep NULL: before it, `POST /api/integrations` took the account
  id from the request body, so an existing id may be a claim on another
  tenant's account. They receive no app-level events until the periodic
  account verification has asked the provider (see hub.provider.accounts).
- `ix_jobs_paused`: jobs of a disabled integration wait as `paused`; the
  relay and re-enabling look them up by integration.

Revision ID: 0012_tenancy
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_tenancy"
down_revision = "0011_ingest_writes"
branch_labels = None
depends_on = None

PAUSED_JOBS = sa.text("status = 'paused'")


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("integrations") as batch:
        batch.add_column(sa.Column("account_verified_at", sa.DateTime(), nullable=True))
    op.create_index("ix_jobs_paused", "jobs", ["integration_id"], postgresql_where=PAUSED_JOBS, sqlite_where=PAUSED_JOBS)


def downgrade() -> None:
    op.drop_index("ix_jobs_paused", table_name="jobs")
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("account_verified_at")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("name")
