"""Strict request input: URLs without NUL, JSON bodies, and the page size of a list.

Bodies are pydantic models with unknown fields forbidden and no type
coercion, so a misspelled or smuggled field (such as `tenant_id`) is a 400,
never silently used or dropped. Error details name the field and the rule,
never echo the submitted value (it may be a credential).

A body is read only up to `HUB_MAX_REQUEST_BYTES` (413 past it, see
hub.app), and must be JSON both databases can store: nested at most
`hub.storage.storable.MAX_JSON_DEPTH` deep, no lone surrogate in any text. Text
that is stored as a column (names, end-user ids) also refuses NUL, through
`NO_NUL_PATTERN`, which the OpenAPI document states as well.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import flask
from flask import Request, current_app
from pydantic import BaseModel, ConfigDict, ValidationError

from hub.api.request_body import read_body
from hub.errors import BadRequest, ValidationFailed
from hub.storage.pagination import DEFAULT_PAGE_LIMIT, PAGE_LIMIT_MAX
from hub.storage.storable import json_fault

Model = TypeVar("Model", bound=BaseModel)


# For text stored as a column: PostgreSQL refuses NUL, so every database does.
NO_NUL_PATTERN = r"^[^\x00]*$"


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=False)


def parse_json_body(request: Request, model: type[Model], *, optional: bool = False) -> Model:
    """The body as `model`; with `optional`, an empty body stands for `{}` (every field has a default)."""
    raw = read_body(request, int(current_app.config["HUB_MAX_REQUEST_BYTES"]))
    if optional and not raw:
        return model.model_validate({})
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise BadRequest("The request body must be JSON (Content-Type: application/json).")
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    fault = json_fault(data, check_text=True)
    if fault is not None:
        raise BadRequest(f"The request body cannot be stored: {fault}.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(part) for part in err["loc"]) or "(body)", "message": err["msg"]}
            for err in exc.errors(include_input=False, include_url=False, include_context=False)
        ]
        raise ValidationFailed("The request body does not match the expected shape.", errors=errors) from None


def refuse_nul_in_url() -> None:
    """Before every request: a path or query holding NUL is a 400 on every database.

    Path ids and filters reach SQL as text; PostgreSQL refuses NUL in text
    where SQLite would simply find nothing, so the same URL would be a 404 on
    one and an error on the other. Two substring checks, so cheap enough for
    the webhook route as well.
    """
    environ = flask.request.environ
    if "\x00" in environ.get("PATH_INFO", "") or "%00" in environ.get("QUERY_STRING", ""):
        raise BadRequest("The URL holds a NUL character.")


def parse_limit(raw: str | None, default: int = DEFAULT_PAGE_LIMIT) -> int:
    """The `limit` query parameter of a list: ASCII digits, 1 to PAGE_LIMIT_MAX.

    ASCII digits only: str.isdigit also accepts "²" (which int() refuses) and "١" (which it reads as 1).
    """
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= PAGE_LIMIT_MAX:
        raise BadRequest(f"limit must be a whole number from 1 to {PAGE_LIMIT_MAX}.")
    return int(raw)
