"""Database tables. Alembic revisions under `migrations/` create exactly these.

Every row that belongs to a tenant carries `tenant_id`, and every query in
the service modules filters on it: another tenant's id behaves as not found.
Secrets are stored only as hashes (API keys, webhook secret lookup) or as
key-ring ciphertexts (credentials, webhook secrets shown to their tenant).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.

    Time-ordered ids make every new row's primary-key entry land at the right
    edge of its B-tree instead of on a random page, which keeps inserts
    cheap however many events are stored. Ids are identifiers, not secrets.
    """
    millis = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | ((random_bits >> 62) & 0xFFF) << 64
        | 0b10 << 62
        | (random_bits & ((1 << 62) - 1))
    )
    text = f"{value:032x}"  # the canonical 8-4-4-4-12 form, without building a UUID object
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def isoformat(value: datetime | None) -> str | None:
    """An aware datetime as the API writes it: ISO 8601 with a `Z`."""
    return value.isoformat().replace("+00:00", "Z") if value else None


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes on every database (SQLite keeps no zone of its own)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Tenant(db.Model):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set by `hub tenants delete`: its data keys are destroyed, so nothing of it opens again.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApiKey(db.Model):
    """A tenant API key, stored as its SHA-256 (the key itself has 256 bits of entropy)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Written at most once a minute per key (see hub.tenancy.api_keys), never on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Integration(db.Model):
    """One tenant's connection to one provider account."""

    __tablename__ = "integrations"
    __table_args__ = (
        sa.Index("ix_integrations_tenant_connector", "tenant_id", "connector"),
        sa.Index("ix_integrations_connector_account", "connector", "external_account_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    connector: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(32), default="active")
    # The provider account this integration's app-level events are routed by. Only
    # ever learned from the provider, never from a request (see hub.provider.accounts).
    external_account_id: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    # When the provider confirmed `external_account_id`; app-level routing requires it.
    account_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end_user_id: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    webhook_secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    webhook_secret_ciphertext: Mapped[str] = mapped_column(sa.Text)
    credentials_ciphertext: Mapped[str] = mapped_column(sa.Text)
    key_id: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sync_cursor: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    health_status: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    last_health_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ConnectorApp(db.Model):
    """Per-connector app state: the app-level webhook secret, generated once."""

    __tablename__ = "connector_apps"

    connector: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    webhook_secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    webhook_secret_ciphertext: Mapped[str] = mapped_column(sa.Text)
    key_id: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OAuthState(db.Model):
    """Server-side OAuth state for embedded mode (Redis holds it when REDIS_URL is set)."""

    __tablename__ = "oauth_states"

    state_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    payload_ciphertext: Mapped[str] = mapped_column(sa.Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConsoleSession(db.Model):
    """An operator's signed-in console browser, in embedded mode (Redis holds them when REDIS_URL is set).

    Keyed by the hash of the cookie's value; names the API key that signed in, never the key.
    """

    __tablename__ = "console_sessions"

    session_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    api_key_id: Mapped[str] = mapped_column(sa.ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DataKey(db.Model):
    """A data key of one tenant (or, with no tenant, of the hub's own secrets), stored only wrapped.

    The key provider named in `provider` wrapped it under `master_key_id`;
    the newest live key of an owner seals new secrets, older ones only open
    what they sealed. Destroying one (crypto-shredding) empties `wrapped_key`:
    nothing in the database can unwrap it again.
    """

    __tablename__ = "data_keys"
    __table_args__ = (sa.Index("ix_data_keys_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    provider: Mapped[str] = mapped_column(sa.String(64))
    master_key_id: Mapped[str] = mapped_column(sa.String(2048))
    wrapped_key: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class KeyCheck(db.Model):
    """A known value sealed under one key id of the ring: proves the configured key still opens stored data."""

    __tablename__ = "key_checks"

    key_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    sealed: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Lock(db.Model):
    """A named lease used as a cross-process lock when Redis is not configured."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEvent(db.Model):
    """A received (or synced) provider event, normalized to a CloudEvent.

    Unique on (integration, provider event id): the dedupe guarantee lives in
    the database, not in process memory.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        sa.UniqueConstraint("integration_id", "provider_event_id", name="uq_webhook_events_dedupe"),
        sa.Index("ix_webhook_events_tenant_received", "tenant_id", "received_at"),
        # The dead-letter list and retries; finished events are not indexed by status.
        sa.Index(
            "ix_webhook_events_attention", "tenant_id", "received_at",
            postgresql_where=sa.text("status IN ('failed', 'dead')"), sqlite_where=sa.text("status IN ('failed', 'dead')"),
        ),
        # The retention prune, oldest first per status; entered when an event finishes, not when it arrives.
        sa.Index(
            "ix_webhook_events_finished", "status", "received_at",
            postgresql_where=sa.text("status IN ('processed', 'dead')"), sqlite_where=sa.text("status IN ('processed', 'dead')"),
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    # No foreign keys to the tenant and integration: each insert would lock both
    # parent rows (see migration 0011); ingestion writes events only for an
    # integration the same statement found live, and neither parent is ever deleted.
    # Events themselves are deleted only by the retention prune (hub.events.retention).
    tenant_id: Mapped[str] = mapped_column(sa.String(36))
    integration_id: Mapped[str] = mapped_column(sa.String(36))
    connector: Mapped[str] = mapped_column(sa.String(64))
    provider_event_id: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(255))
    subject: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Job(db.Model):
    """The outbox: the durable truth of queued work. Huey only carries the job id.

    status: pending (waiting to run), processing (claimed under a lease),
    failed (will retry at `run_at`), done, dead (attempts exhausted), paused
    (its integration is disabled: it waits, with no attempt spent, until the
    integration is enabled again; see hub.queue.pausing).
    lease_expires_at: while pending, the moment the relay may assume the
    enqueue was lost; while processing, the moment the relay may assume the
    consumer died. lease_owner is the claim token that alone may finish it.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        # What claims and the relay look for; done jobs (most rows) stay out of it.
        sa.Index(
            "ix_jobs_unfinished_run_at", "status", "run_at",
            postgresql_where=sa.text("status IN ('pending', 'processing', 'failed')"),
            sqlite_where=sa.text("status IN ('pending', 'processing', 'failed')"),
        ),
        # Live syncs of an integration (one at a time); event jobs stay out of it.
        sa.Index(
            "ix_jobs_sync_integration", "integration_id", "status",
            postgresql_where=sa.text("kind = 'sync'"), sqlite_where=sa.text("kind = 'sync'"),
        ),
        # Jobs waiting for their disabled integration, found again when it is enabled.
        sa.Index(
            "ix_jobs_paused", "integration_id",
            postgresql_where=sa.text("status = 'paused'"), sqlite_where=sa.text("status = 'paused'"),
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    queue: Mapped[str] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(32))
    tenant_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    # No foreign key (see migrations 0011 and 0014): a job is written in the same statement as its event, and
    # the retention prune deletes an event only when none of its jobs is live, together with its jobs.
    event_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True, index=True)
    integration_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer, default=8)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Destination(db.Model):
    """A tenant's own HTTP endpoint that receives the events its filter matches, signed (Standard Webhooks).

    The signing secret is sealed like a credential (see hub.tenancy.destinations);
    during a rotation the previous secret signs too, until
    `previous_secret_expires_at`. `consecutive_failures` and
    `circuit_open_until` are the per-destination circuit breaker;
    `failing_since` marks the start of an unbroken run of failures, which
    disables the destination once it is long enough.
    """

    __tablename__ = "destinations"
    __table_args__ = (sa.Index("ix_destinations_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(sa.String(2048))
    description: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    filter: Mapped[dict] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16), default="enabled")
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    secret_ciphertext: Mapped[str] = mapped_column(sa.Text)
    previous_secret_ciphertext: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    key_id: Mapped[str] = mapped_column(sa.String(32))
    consecutive_failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    circuit_open_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Delivery(db.Model):
    """One event on its way to one destination: the outbox row of the `deliveries` queue.

    `id` is the `webhook-id` every attempt carries (the receiver's
    idempotency key). `source_key` names what the delivery announces (the
    event id, or a fresh id for a lifecycle event or a ping), unique per
    destination, so a fan-out that runs twice makes one delivery;
    `source_job_id` is the job that fanned it out, so an event replay (a new
    job) sends the same delivery again with the same id. `body` is the exact
    JSON sent on every attempt.

    status: pending (waiting for its attempt at `next_attempt_at`, or in one
    while `lease_owner` holds it), succeeded, failed (the last attempt
    failed). As for jobs, `lease_expires_at` is, while nobody holds the row,
    the moment the relay may assume its enqueue was lost, and while a
    consumer holds it, the moment the relay may assume that consumer died.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("destination_id", "source_key", name="uq_deliveries_source"),
        sa.Index("ix_deliveries_destination_created", "destination_id", "created_at", "id"),
        # What the relay and the per-destination concurrency check look at; finished deliveries stay out of it.
        sa.Index(
            "ix_deliveries_pending", "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"),
        ),
        # The attempts in flight to a destination, counted by every claim: a handful of rows however long the backlog.
        sa.Index(
            "ix_deliveries_in_flight", "destination_id",
            postgresql_where=sa.text("status = 'pending' AND lease_owner IS NOT NULL"),
            sqlite_where=sa.text("status = 'pending' AND lease_owner IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    destination_id: Mapped[str] = mapped_column(sa.ForeignKey("destinations.id", ondelete="CASCADE"))
    event_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    type: Mapped[str] = mapped_column(sa.String(255))
    source_key: Mapped[str] = mapped_column(sa.String(80))
    source_job_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer, default=8)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    last_response_body: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
