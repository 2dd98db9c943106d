"""Authentication of management calls: the tenant comes from the key, only.

A request that tries to name its own tenant (a `tenant_id` query parameter)
is refused rather than ignored, so a client bug surfaces instead of silently
acting on the key's tenant.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from hub.errors import BadRequest, Unauthorized
from hub.runtime import current_hub
from hub.tenancy.api_keys import tenant_for_api_key

View = TypeVar("View", bound=Callable[..., Any])

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="hub"'}


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate_api_key() -> str:
    token = bearer_token()
    tenant_id = tenant_for_api_key(token) if token else None
    if tenant_id is None:
        raise Unauthorized("A valid tenant API key is required (Authorization: Bearer <key>).", headers=UNAUTHORIZED_HEADERS)
    return tenant_id


def refuse_tenant_override() -> None:
    if "tenant_id" in request.args:
        raise BadRequest("The tenant is taken from the API key; do not pass tenant_id.")


def require_tenant(view: View) -> View:
    """Authenticate with the tenant API key and put the tenant id in `g.tenant_id`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.tenant_id = authenticate_api_key()
        current_hub().rate_limits.limit_tenant(g.tenant_id)
        refuse_tenant_override()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
