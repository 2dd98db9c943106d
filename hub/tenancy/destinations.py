"""A tenant's destinations: registration, changes, signing secrets and their rotation.

Every function takes the tenant explicitly and filters on it, so another
tenant's destination id behaves exactly like an unknown one. A URL is
checked (hub.delivery.addresses) before anything is stored, and checked
again before every attempt by the worker. The signing secret is shown once,
when it is made; it is stored sealed, through `seal_destination_secret`
and `open_destination_secret` only, so how secrets are sealed can change in
one place.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from hub.delivery.addresses import check_destination
from hub.delivery.signing import new_secret
from hub.errors import BadRequest, Conflict, NotFound
from hub.runtime import current_hub
from hub.storage.crypto import destination_context
from hub.storage.envelope import key_id_of
from hub.storage.models import Delivery, Destination, Integration, db, isoformat, new_id, utcnow
from hub.storage.pagination import DEFAULT_PAGE_LIMIT, page
from hub.tenancy.quotas import lock_tenant

ENABLED, DISABLED = "enabled", "disabled"
STATUSES = (ENABLED, DISABLED)
# How long the previous secret keeps signing after a rotation, so receivers can switch without losing a delivery.
ROTATION_OVERLAP = timedelta(hours=24)


class DestinationQuotaExceeded(Conflict):
    """The tenant already has `HUB_MAX_DESTINATIONS_PER_TENANT` destinations."""

    title, slug = "Destination quota exceeded", "destination-quota-exceeded"


def seal_destination_secret(tenant_id: str, destination_id: str, secret: str) -> str:
    """The one way a destination's signing secret is sealed for storage: by the tenant's data key (hub.storage.envelope)."""
    return current_hub().envelope.seal(tenant_id, destination_context(tenant_id, destination_id), secret.encode())


def open_destination_secret(tenant_id: str, destination_id: str, sealed: str) -> str:
    """The one way a sealed signing secret is opened (to sign a delivery)."""
    return current_hub().envelope.open(tenant_id, destination_context(tenant_id, destination_id), sealed).decode()


def secrets_in_force(destination: Any) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during its overlap.

    `destination` is a Destination or a row with its `id`, `tenant_id` and secret columns.
    """
    signing = [open_destination_secret(destination.tenant_id, destination.id, destination.secret_ciphertext)]
    expires = destination.previous_secret_expires_at
    if destination.previous_secret_ciphertext and expires is not None and expires > utcnow():
        signing.append(open_destination_secret(destination.tenant_id, destination.id, destination.previous_secret_ciphertext))
    return signing


def check_url(url: str) -> None:
    """Refuse a URL the hub must not deliver to (400), before anything is stored."""
    settings = current_hub().settings
    check_destination(
        url, production=settings["HUB_ENV"] == "production", allow_private=bool(settings["HUB_DESTINATIONS_ALLOW_PRIVATE"])
    )


def check_filter(tenant_id: str, filter_: dict[str, Any]) -> None:
    """Integration ids in a filter must be the tenant's own: another tenant's reads as unknown."""
    wanted = set(filter_.get("integration_ids") or ())
    if not wanted:
        return
    known = set(
        db.session.execute(
            sa.select(Integration.id).where(Integration.tenant_id == tenant_id, Integration.id.in_(wanted))
        ).scalars()
    )
    unknown = sorted(wanted - known)
    if unknown:
        raise BadRequest(f"filter.integration_ids names integrations this tenant does not have: {', '.join(unknown)}.")


def create_destination(tenant_id: str, *, url: str, description: str | None, filter_: dict[str, Any]) -> tuple[Destination, str]:
    """Register a destination; returns it and its signing secret (shown to the caller once).

    Within the tenant's destination quota, counted under the tenant's lock
    in the transaction that inserts.
    """
    check_url(url)
    check_filter(tenant_id, filter_)
    limit = int(current_hub().settings["HUB_MAX_DESTINATIONS_PER_TENANT"])
    lock_tenant(tenant_id)
    count = db.session.execute(
        sa.select(sa.func.count()).select_from(Destination).where(Destination.tenant_id == tenant_id)
    ).scalar_one()
    if count >= limit:
        db.session.rollback()
        raise DestinationQuotaExceeded(
            f"A tenant may hold {limit} destinations (HUB_MAX_DESTINATIONS_PER_TENANT); delete one before adding another.",
            limit=limit,
        )
    destination_id = new_id()
    secret = new_secret()
    sealed = seal_destination_secret(tenant_id, destination_id, secret)
    destination = Destination(
        id=destination_id,
        tenant_id=tenant_id,
        url=url,
        description=description,
        filter=filter_,
        status=ENABLED,
        secret_ciphertext=sealed,
        key_id=key_id_of(sealed),
        consecutive_failures=0,
    )
    db.session.add(destination)
    db.session.commit()
    return destination, secret


def get_destination(tenant_id: str, destination_id: str) -> Destination:
    destination = db.session.execute(
        sa.select(Destination).where(Destination.id == destination_id, Destination.tenant_id == tenant_id)
    ).scalar_one_or_none()
    if destination is None:
        raise NotFound("No such destination")
    return destination


def list_destinations(tenant_id: str, *, limit: int = DEFAULT_PAGE_LIMIT, cursor: str | None = None) -> tuple[list[Destination], str | None]:
    """The tenant's destinations, oldest first, one page at a time; and the cursor of the next page."""
    query = sa.select(Destination).where(Destination.tenant_id == tenant_id)
    return page(query, Destination.created_at, Destination.id, cursor=cursor, limit=limit, newest_first=False)


def update_destination(tenant_id: str, destination_id: str, changes: dict[str, Any]) -> Destination:
    """Apply `changes` (url, description, filter, status); a new URL is checked first, and enabling closes the circuit."""
    destination = get_destination(tenant_id, destination_id)
    if "url" in changes:
        check_url(changes["url"])
        destination.url = changes["url"]
    if "filter" in changes:
        check_filter(tenant_id, changes["filter"])
        destination.filter = changes["filter"]
    if "description" in changes:
        destination.description = changes["description"]
    if "status" in changes:
        if changes["status"] not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}.")
        if changes["status"] == ENABLED and destination.status != ENABLED:
            destination.consecutive_failures = 0
            destination.circuit_open_until = None
            destination.failing_since = None
            destination.disabled_reason = None
        elif changes["status"] == DISABLED and destination.status != DISABLED:
            destination.disabled_reason = "disabled by the tenant"
        destination.status = changes["status"]
    destination.updated_at = utcnow()
    db.session.commit()
    return destination


def delete_destination(tenant_id: str, destination_id: str) -> None:
    """Delete the destination and its deliveries: nothing more is sent to it, an attempt in flight finds nothing to record."""
    destination = get_destination(tenant_id, destination_id)
    db.session.execute(sa.delete(Delivery).where(Delivery.destination_id == destination.id))
    db.session.delete(destination)
    db.session.commit()


def rotate_secret(tenant_id: str, destination_id: str) -> str:
    """A new signing secret; the previous one signs alongside it for `ROTATION_OVERLAP`. Returns the new secret, once."""
    destination = get_destination(tenant_id, destination_id)
    secret = new_secret()
    destination.previous_secret_ciphertext = destination.secret_ciphertext
    destination.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
    destination.secret_ciphertext = seal_destination_secret(tenant_id, destination.id, secret)
    destination.key_id = key_id_of(destination.secret_ciphertext)
    destination.updated_at = utcnow()
    db.session.commit()
    return secret


def serialize_destination(destination: Destination) -> dict[str, Any]:
    """The API view of a destination: never a secret."""
    return {
        "id": destination.id,
        "url": destination.url,
        "description": destination.description,
        "status": destination.status,
        "disabled_reason": destination.disabled_reason,
        "filter": destination.filter or {},
        "secret_rotating_until": isoformat(destination.previous_secret_expires_at)
        if destination.previous_secret_expires_at and destination.previous_secret_expires_at > utcnow() else None,
        "created_at": isoformat(destination.created_at),
        "updated_at": isoformat(destination.updated_at),
    }
