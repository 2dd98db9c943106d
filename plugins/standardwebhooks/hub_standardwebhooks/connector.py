"""Receive webhooks from any sender that follows Standard Webhooks (standardwebhooks.com): Svix, and many more.

A tenant creates one integration per sender endpoint with the signing
secret the sender shows (`whsec_...`) and gives the sender the
integration's `webhook_url`. Each delivery is verified (`webhook-id`,
`webhook-timestamp` within five minutes either way, any of the
`webhook-signature` entries), deduplicated on `webhook-id` (a sender's
retries keep it), and becomes one event whose type is the payload's own
`type`: the sender defines the names, and the hosts that receive them
already match on them.

Settings: `STANDARDWEBHOOKS_TOLERANCE_SECONDS` (default 300).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub import hookimpl
from hub.kit import float_setting, parse_json_object, standard_webhook_key, verify_standard_webhook
from hub.types import ConnectorInfo, CredentialsRefused, NormalizedEvent, WebhookRequest

MAX_TYPE_LENGTH = 255


@hookimpl
def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        display_name="Standard Webhooks",
        auth_kind="api_key",
        description="Any sender that signs webhooks the Standard Webhooks way (standardwebhooks.com), such as Svix.",
        credential_fields={"webhook_secret": "The endpoint's signing secret as the sender shows it (whsec_ and base64)."},
        required_credentials=("webhook_secret",),
        webhook_routing="integration",
    )


@hookimpl
def api_key_account(credentials: Mapping[str, Any]) -> None:
    """No provider to ask; the one check possible is the secret's form, made when it is set rather than
    as every delivery failing. A sender has no account: the answer is always none."""
    try:
        standard_webhook_key(str(credentials.get("webhook_secret") or ""))
    except ValueError as error:
        raise CredentialsRefused(str(error)) from None


@hookimpl
def verify_signature(request: WebhookRequest, credentials: Mapping[str, Any] | None, settings: Mapping[str, str], now: float) -> bool:
    secret = str((credentials or {}).get("webhook_secret") or "")
    tolerance = float_setting(settings, "STANDARDWEBHOOKS_TOLERANCE_SECONDS", default=300.0, minimum=0, maximum=3600)
    return verify_standard_webhook(secret, request.body, request.headers, now=now, tolerance=tolerance)


@hookimpl
def normalize(request: WebhookRequest) -> list[NormalizedEvent]:
    message_id = request.header("webhook-id")
    if not message_id:
        raise ValueError("the delivery has no webhook-id header")
    payload = parse_json_object(request.body)
    kind = payload.get("type")
    if not isinstance(kind, str) or not 0 < len(kind) <= MAX_TYPE_LENGTH:
        raise ValueError("the payload has no type")
    data = payload.get("data", payload)
    return [NormalizedEvent(id=message_id, type=kind, data=data, time=_time(payload.get("timestamp")))]


def _time(value: Any) -> datetime | None:
    """The payload's `timestamp` (ISO 8601, with a zone), or None when it has none the hub can store."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
