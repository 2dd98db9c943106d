"""Integrations REST API (tenant from the API key only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Blueprint, g, jsonify, request
from pydantic import Field

from hub.api.auth import require_tenant
from hub.api.validation import NO_NUL_PATTERN, StrictBody, parse_json_body, parse_limit
from hub.errors import BadRequest, Conflict, NotFound
from hub.provider.accounts import learn_api_key_account
from hub.provider.revoke import disconnect_integration
from hub.provider.sync import request_sync
from hub.queue.pausing import TENANT_SWITCHABLE_STATUSES, switch_status
from hub.queue.deliveries import announce_integration
from hub.queue.queues import enqueue
from hub.runtime import current_hub
from hub.storage.models import db
from hub.tenancy import integrations as service
from hub.tenancy.quotas import check_integration_quota

blueprint = Blueprint("integrations", __name__)

Name = Field(min_length=1, max_length=200, pattern=NO_NUL_PATTERN)
# Credentials are decrypted for every signature check of a webhook: a value
# has room for a PEM private key, not for a payload.
MAX_CREDENTIAL_CHARS = 8192
CredentialName = Annotated[str, Field(min_length=1, max_length=64)]
CredentialValue = Annotated[str, Field(max_length=MAX_CREDENTIAL_CHARS)]


class CreateIntegration(StrictBody):
    """No `external_account_id`: the account is learned from the provider (hub.provider.accounts), never claimed."""

    connector: str = Field(min_length=1, max_length=64)
    name: str = Name
    credentials: dict[CredentialName, CredentialValue]


class UpdateIntegration(StrictBody):
    """Credentials merge over the stored ones (a field set to null is removed), so
    rolling an API key does not drop the endpoint's signing secret."""

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL_PATTERN)
    status: Literal["active", "disabled"] | None = None
    credentials: dict[CredentialName, CredentialValue | None] | None = None


def _check_credentials(connector_id: str, credentials: dict[str, Any]) -> None:
    _check_credential_names(connector_id, credentials)
    _check_required_credentials(connector_id, credentials)


def _check_credential_names(connector_id: str, credentials: dict[str, Any]) -> None:
    unknown = sorted(set(credentials) - set(current_hub().plugins.info(connector_id).credential_fields))
    if unknown:
        raise BadRequest(f"Unknown credential fields for {connector_id}: {', '.join(unknown)}.")


def _check_required_credentials(connector_id: str, credentials: dict[str, Any]) -> None:
    missing = [name for name in current_hub().plugins.info(connector_id).required_credentials if not credentials.get(name)]
    if missing:
        raise BadRequest(f"Missing credential fields for {connector_id}: {', '.join(missing)}.")


def connect_api_key_integration(
    tenant_id: str, connector_id: str, *, name: str, credentials: dict[str, Any], end_user_id: str | None = None
) -> Any:
    """Create an API-key integration: the fields checked, the quota, then the provider names the account.

    The API and the Connect page (hub.web.connect_page) both connect this way.
    `hub.integration.connected` goes to the tenant's destinations in the
    transaction that creates the integration.
    """
    plugins = current_hub().plugins
    if connector_id not in plugins.connectors:
        raise NotFound("No such connector")
    if not plugins.info(connector_id).credential_fields:
        raise BadRequest(f"{connector_id} connects through OAuth; send the user to /api/oauth/start/{connector_id}.")
    _check_credentials(connector_id, credentials)
    check_integration_quota(tenant_id, lock=False)  # answered before the provider is asked; the insert counts again
    account = learn_api_key_account(connector_id, credentials)
    integration = service.create_integration(
        tenant_id,
        connector=connector_id,
        name=name,
        credentials=credentials,
        external_account_id=account.external_account_id if account is not None else None,
        end_user_id=end_user_id,
        commit=False,
    )
    db.session.flush()
    dispatches = announce_integration("hub.integration.connected", integration)
    db.session.commit()
    enqueue(dispatches)
    return integration


@blueprint.get("/api/integrations")
@require_tenant
def list_integrations():  # type: ignore[no-untyped-def]
    rows, next_cursor = service.list_integrations(
        g.tenant_id,
        connector=request.args.get("connector") or None,
        status=request.args.get("status") or None,
        limit=parse_limit(request.args.get("limit")),
        cursor=request.args.get("cursor") or None,
    )
    items = [service.serialize_integration(row, with_webhook_url=False) for row in rows]
    return jsonify({"integrations": items, "next_cursor": next_cursor})


@blueprint.post("/api/integrations")
@require_tenant
def create_integration():  # type: ignore[no-untyped-def]
    body = parse_json_body(request, CreateIntegration)
    integration = connect_api_key_integration(g.tenant_id, body.connector, name=body.name, credentials=body.credentials)
    return jsonify(service.serialize_integration(integration)), 201


@blueprint.get("/api/integrations/<integration_id>")
@require_tenant
def get_integration(integration_id: str):  # type: ignore[no-untyped-def]
    return jsonify(service.serialize_integration(service.get_integration_by_id(g.tenant_id, integration_id)))


@blueprint.patch("/api/integrations/<integration_id>")
@require_tenant
def update_integration(integration_id: str):  # type: ignore[no-untyped-def]
    integration = service.get_integration_by_id(g.tenant_id, integration_id)
    body = parse_json_body(request, UpdateIntegration)
    if body.name is None and body.status is None and body.credentials is None:
        raise BadRequest("Nothing to change: give name, status or credentials.")
    if body.status is not None and integration.status not in TENANT_SWITCHABLE_STATUSES:
        raise Conflict(f"The integration is {integration.status}; connect it again instead of changing its status.")
    if body.credentials is not None:
        connector, version = integration.connector, integration.version
        if current_hub().plugins.connectors.get(connector) is None:
            raise BadRequest("The connector of this integration is not installed.")
        if not current_hub().plugins.info(connector).credential_fields:
            raise BadRequest("OAuth credentials are replaced by connecting again, not by PATCH.")
        # Only the posted fields must be the connector's credential fields: an OAuth integration's stored
        # tokens are not, and a per-integration setting (a webhook secret) merges over them.
        _check_credential_names(connector, body.credentials)
        stored = service.decrypt_credentials(integration)
        merged = {k: v for k, v in {**stored, **body.credentials}.items() if v is not None}
        _check_required_credentials(connector, merged)
        account_change: dict[str, Any] = {}
        if current_hub().plugins.has_hook(connector, "api_key_account"):
            # New credentials may belong to another account: the provider says which, before anything is written.
            account = learn_api_key_account(connector, merged)
            account_change["external_account_id"] = account.external_account_id if account is not None else None
        integration = service.update_integration_credentials(
            g.tenant_id, integration_id, merged, expected_version=version, **account_change,
        )
    if body.name is not None:
        integration = service.rename_integration(g.tenant_id, integration_id, body.name)
    if body.status is not None:
        integration, dispatches = switch_status(g.tenant_id, integration_id, body.status)
        enqueue(dispatches)
    return jsonify(service.serialize_integration(integration))


@blueprint.delete("/api/integrations/<integration_id>")
@require_tenant
def delete_integration(integration_id: str):  # type: ignore[no-untyped-def]
    disconnect_integration(g.tenant_id, integration_id)
    return "", 204


@blueprint.post("/api/integrations/<integration_id>/sync")
@require_tenant
def sync_integration(integration_id: str):  # type: ignore[no-untyped-def]
    job_id, dispatches = request_sync(g.tenant_id, integration_id)
    enqueue(dispatches)
    return jsonify({"job_id": job_id}), 202
