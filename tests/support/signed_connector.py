"""A small connector for the pipeline's tests, shaped like a real provider.

Deliveries carry `X-Signed-Signature: t=<unix>,v1=<hex hmac-sha256("{t}.{body}")>`,
keyed with the integration's `signing_secret` credential (per-integration
endpoint) or the `SIGNED_APP_SECRET` setting (app-level endpoint, routed by
the body's `account`). Bodies are JSON `{"id", "type", "account", "data"}`;
`{"type": "ping", "challenge": ...}` is a handshake. Sync pages come from
`SIGNED_API_BASE_URL/events?after=<cursor>`; the account an API key belongs
to from `SIGNED_API_BASE_URL/account` (asked with the key; without
`SIGNED_API_BASE_URL` a key names no account).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from hub import hookimpl
from hub.types import AccountInfo, ConnectorInfo, CredentialsRefused, NormalizedEvent, SyncResult, WebhookRequest, WebhookResponse

TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@hookimpl
def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        display_name="Signed test provider",
        auth_kind="api_key",
        credential_fields={"api_key": "API key", "signing_secret": "Webhook signing secret"},
        required_credentials=("api_key", "signing_secret"),
        webhook_routing="both",
        supports_sync=True,
    )


@hookimpl
def api_key_account(session: Any, credentials: Mapping[str, Any], settings: Mapping[str, str]) -> AccountInfo | None:
    base_url = settings.get("SIGNED_API_BASE_URL")
    if not base_url:
        return None
    response = session.get(f"{base_url}/account", headers={"Authorization": f"Bearer {credentials['api_key']}"})
    if response.status_code == 401:
        raise CredentialsRefused("unknown key")
    response.raise_for_status()
    return AccountInfo(external_account_id=response.json()["account"])


@hookimpl
def verify_signature(request: WebhookRequest, credentials: Mapping[str, Any] | None, settings: Mapping[str, str], now: float) -> bool:
    secret = settings.get("SIGNED_APP_SECRET", "") if credentials is None else str(credentials.get("signing_secret", ""))
    header = request.header("x-signed-signature") or ""
    parts = dict(item.partition("=")[::2] for item in header.split(",") if "=" in item)
    timestamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not secret or not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, request.body, int(timestamp)).split("v1=", 1)[1]
    return hmac.compare_digest(expected.encode(), signature.encode())


def _body(request: WebhookRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError("the body is not JSON") from error
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    return body


@hookimpl
def webhook_handshake(request: WebhookRequest) -> WebhookResponse | None:
    try:
        body = _body(request)
    except ValueError:
        return None
    if body.get("type") == "ping" and isinstance(body.get("challenge"), str):
        return WebhookResponse(status=200, body=body["challenge"].encode(), content_type="text/plain")
    return None


def to_event(body: Mapping[str, Any]) -> NormalizedEvent:
    if not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
        raise ValueError("an event needs a string id and type")
    return NormalizedEvent(
        id=body["id"],
        type=body["type"],
        data=body.get("data", {}),
        subject=body.get("subject"),
        account=body.get("account"),
        integration_status="revoked" if body["type"] == "account.deauthorized" else None,
    )


@hookimpl
def normalize(request: WebhookRequest) -> list[NormalizedEvent]:
    body = _body(request)
    if isinstance(body.get("events"), list):
        return [to_event(item) for item in body["events"] if isinstance(item, dict)]
    return [to_event(body)]


@hookimpl
def sync(session: Any, cursor: str | None, settings: Mapping[str, str]) -> SyncResult:
    response = session.get(f"{settings['SIGNED_API_BASE_URL']}/events", params={"after": cursor or ""})
    if response.status_code == 429:
        return SyncResult(records=[], cursor=cursor, retry_after=float(response.headers.get("Retry-After", "1")))
    response.raise_for_status()
    page = response.json()
    return SyncResult(records=[to_event(item) for item in page["events"]], cursor=page["cursor"], has_more=page["has_more"])
