"""Strict JSON request bodies.

Bodies are pydantic models with unknown fields forbidden and no type
coercion, so a misspelled or smuggled field (such as `tenant_id`) is a 400,
never silently used or dropped. Error details name the field and the rule,
never echo the submitted value (it may be a credential).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import Request
from pydantic import BaseModel, ConfigDict, ValidationError

from hub.errors import BadRequest, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=False)


def parse_json_body(request: Request, model: type[Model]) -> Model:
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise BadRequest("The request body must be JSON (Content-Type: application/json).")
    raw = request.get_data(cache=True)
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(part) for part in err["loc"]) or "(body)", "message": err["msg"]}
            for err in exc.errors(include_input=False, include_url=False, include_context=False)
        ]
        raise ValidationFailed("The request body does not match the expected shape.", errors=errors) from None
