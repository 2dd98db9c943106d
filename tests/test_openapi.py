"""The OpenAPI document is complete, and the API keeps to it under fuzzing.

schemathesis generates requests from the document (valid and invalid, with
and without a real API key) against the app on both databases; no response
may be a 5xx or break the documented schema, status codes or content types.
"""

from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from hub.api.openapi import build_document

SKIPPED_RULES = {"static", "web_assets.static"}  # files, not operations
# Opaque inputs the generator cannot produce valid values for: a made-up page
# cursor is rightly refused with 400, which the positive-data check would
# count against the API; so is a proxied path that would leave the provider's
# base URL (any string fits the schema), and a destination URL, valid only if
# its host resolves to a public address, which generated URLs rarely do.
# Every other check still runs on these operations.
OPAQUE_INPUT_OPERATIONS = {
    "listEvents", "listIntegrations", "proxyGet", "proxyPost", "proxyPut", "proxyPatch", "proxyDelete",
    "listDestinations", "listDeliveries", "createDestination", "updateDestination",
}
# The browser pages (tag "browser") need what a generator cannot make either:
# a live connect token, a console session cookie, a form's CSRF token.


def _flask_paths(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_RULES:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((path, method.lower()))
    return found


def test_every_route_is_documented_and_every_documented_route_exists(app):
    documented = {
        (path, method)
        for path, item in build_document()["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "delete", "put")
    }
    assert _flask_paths(app) == documented


def test_the_document_is_served(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json["openapi"] == "3.1.0"


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_api_keeps_to_its_document(app, tenant):
    """Bounded fuzzing: 25 examples per operation, derandomized so a failure reproduces."""
    auth = {"Authorization": f"Bearer {tenant.api_key}"}
    checked = set()
    for operation in _operations(app):
        headers = auth if operation.definition.raw.get("security") else {}
        operation_id = operation.definition.raw.get("operationId")
        opaque = operation_id in OPAQUE_INPUT_OPERATIONS or "browser" in operation.definition.raw.get("tags", [])
        excluded = [positive_data_acceptance] if opaque else []

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        def keeps_to_document(case):
            case.call_and_validate(headers=headers, excluded_checks=excluded)

        keeps_to_document()
        checked.add((operation.method.lower(), operation.path))
    documented = {(method, path) for path, item in build_document()["paths"].items() for method in item if method != "parameters"}
    # schemathesis does not fuzz the URL it loaded the document from
    assert checked == documented - {("get", "/api/openapi.json")}
