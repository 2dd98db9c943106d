"""The OpenAPI 3.1 document of the whole HTTP API, and `GET /api/openapi.json` that serves it.

Kept next to the code and checked by tests: every Flask route must be
described here, and a schemathesis run against this document must find no
5xx and no response that breaks it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from hub.queue.outbox import EVENT_STATUSES

blueprint = Blueprint("openapi", __name__)

PROBLEM = {"$ref": "#/components/schemas/Problem"}
ID = {"type": "string", "minLength": 1, "maxLength": 64}
TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
BEARER = [{"apiKey": []}]
NO_NUL = "^[^\\u0000]*$"  # text stored as a column (hub.api.validation.NO_NUL_PATTERN)
CREDENTIALS = {"type": "object", "propertyNames": {"minLength": 1, "maxLength": 64}, "additionalProperties": {"type": "string", "maxLength": 8192}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _redirect(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"Location": {"schema": {"type": "string"}}}}


COMMON_ERRORS = {"429": _problem("Rate limit exceeded (Retry-After says when to retry)"), "503": _problem("A dependency is unavailable")}
TOO_LARGE = {"413": _problem("Body over HUB_MAX_REQUEST_BYTES")}
AUTH_ERRORS = {"401": _problem("Missing or invalid API key"), **COMMON_ERRORS}


def _proxy_operation(method: str, with_body: bool) -> dict[str, Any]:
    """One method of the proxy: the provider's answer passes through whatever it is; the hub's own errors are problems."""
    operation: dict[str, Any] = {
        "operationId": f"proxy{method.title()}",
        "summary": f"{method.upper()} the provider's API as the integration",
        "description": (
            "Sends the call to the connector's API base URL + `/{path}` with the query string, body and safe headers, "
            "adding the integration's authentication; the provider's status, headers (minus hop-by-hop, cookies and "
            "origin headers) and raw body come back unchanged, with `Hub-Proxy-Attempts`. Redirects are not followed."
        ),
        "security": BEARER,
        "parameters": [
            {"name": "Hub-Retries", "in": "header", "required": False, "schema": {"type": "integer", "minimum": 0, "maximum": 10},
             "description": "Retries of 429, 502, 503, 504 and connection failures (POST and PATCH: only when the provider surely did not act)."},
        ],
        "responses": {
            "default": {
                "description": "The provider's answer, unchanged",
                "headers": {"Hub-Proxy-Attempts": {"schema": {"type": "integer"}, "description": "Requests the hub sent to get this answer"}},
                "content": {"*/*": {"schema": {}}},
            },
            "400": _problem("A path that leaves the base URL, a bad Hub-Retries, or a connector without an API base URL"),
            "404": _problem("No such integration (another tenant's too)"),
            "409": _problem("The integration is not active (needs_reauth, revoked, disabled)"),
            "413": _problem("Body over HUB_PROXY_MAX_BYTES"),
            "502": _problem("The provider could not be reached"),
            "504": _problem("The provider did not answer within HUB_PROXY_TIMEOUT_SECONDS"),
            **AUTH_ERRORS,
        },
    }
    if with_body:
        operation["requestBody"] = {"required": False, "content": {"*/*": {"schema": {}}}}
    return operation


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID}


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Connector": {
        "type": "object",
        "required": ["id", "display_name", "auth_kind", "supports", "configured"],
        "properties": {
            "id": {"type": "string"},
            "display_name": {"type": "string"},
            "description": {"type": "string"},
            "auth_kind": {"enum": ["oauth2", "api_key", "none"]},
            "configured": {"type": "boolean"},
            "credential_fields": {"type": "object", "additionalProperties": {"type": "string"}},
            "required_credentials": {"type": "array", "items": {"type": "string"}},
            "webhook_routing": {"enum": ["integration", "app", "both", "none"]},
            "supports": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "distribution": {"type": ["string", "null"]},
        },
    },
    "Integration": {
        "type": "object",
        "description": "`webhook_url` is in single-integration answers only: listing decrypts nothing.",
        "required": ["id", "connector", "name", "status", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "connector": {"type": "string"},
            "name": {"type": "string"},
            "status": {"enum": ["active", "disabled", "needs_reauth", "revoked", "error"]},
            "external_account_id": {"type": ["string", "null"], "description": "The provider account, as the provider named it."},
            "end_user_id": {"type": ["string", "null"]},
            "webhook_url": {"type": "string"},
            "token_expires_at": TIMESTAMP,
            "last_synced_at": TIMESTAMP,
            "health_status": {"type": ["string", "null"]},
            "last_health_check_at": TIMESTAMP,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
        "additionalProperties": False,
    },
    "CreateIntegration": {
        "type": "object",
        "required": ["connector", "name", "credentials"],
        "properties": {
            "connector": {"type": "string", "minLength": 1, "maxLength": 64},
            "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_NUL},
            "credentials": CREDENTIALS,
        },
        "additionalProperties": False,
    },
    "UpdateIntegration": {
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 200, "pattern": NO_NUL},
            "status": {"enum": ["active", "disabled", None]},
            "credentials": {**CREDENTIALS, "type": ["object", "null"], "additionalProperties": {"type": ["string", "null"], "maxLength": 8192}},
        },
        "additionalProperties": False,
    },
    "CreateApiKey": {
        "type": "object",
        "properties": {"name": {"type": ["string", "null"], "minLength": 1, "maxLength": 200, "pattern": NO_NUL}},
        "additionalProperties": False,
    },
    "ApiKey": {
        "type": "object",
        "required": ["id", "name", "prefix", "created_at", "last_used_at"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "prefix": {"type": "string"},
            "created_at": TIMESTAMP,
            "last_used_at": TIMESTAMP,
        },
        "additionalProperties": False,
    },
    "NewApiKey": {
        "type": "object",
        "description": "The only answer that carries the key itself.",
        "required": ["id", "name", "key", "prefix", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "key": {"type": "string"},
            "prefix": {"type": "string"},
            "created_at": TIMESTAMP,
            "last_used_at": TIMESTAMP,
        },
        "additionalProperties": False,
    },
    "ConnectSessionRequest": {
        "type": "object",
        "required": ["end_user_id"],
        "properties": {
            "end_user_id": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL},
            "allowed_connectors": {"type": ["array", "null"], "items": {"type": "string", "minLength": 1, "maxLength": 64}, "minItems": 1, "maxItems": 64},
        },
        "additionalProperties": False,
    },
    "ConnectSession": {
        "type": "object",
        "required": ["token", "expires_at"],
        "properties": {"token": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}},
    },
    "Event": {
        "type": "object",
        "required": ["id", "status", "type", "integration_id", "connector", "event"],
        "properties": {
            "id": {"type": "string"},
            "integration_id": {"type": "string"},
            "connector": {"type": "string"},
            "provider_event_id": {"type": "string"},
            "type": {"type": "string"},
            "subject": {"type": ["string", "null"]},
            "status": {"enum": list(EVENT_STATUSES)},
            "attempts": {"type": "integer"},
            "last_error": {"type": ["string", "null"]},
            "occurred_at": TIMESTAMP,
            "received_at": TIMESTAMP,
            "processed_at": TIMESTAMP,
            "event": {"$ref": "#/components/schemas/CloudEvent"},
        },
        "additionalProperties": False,
    },
    "CloudEvent": {
        "type": "object",
        "description": "CloudEvents 1.0 (JSON format) with the hub's ids as extension attributes.",
        "required": ["specversion", "id", "source", "type", "tenantid", "integrationid"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string"},
            "source": {"type": "string"},
            "type": {"type": "string"},
            "subject": {"type": ["string", "null"]},
            "time": TIMESTAMP,
            "datacontenttype": {"type": "string"},
            "data": {},
            "tenantid": {"type": "string"},
            "integrationid": {"type": "string"},
            "connector": {"type": "string"},
            "providereventid": {"type": "string"},
        },
    },
    "WebhookAck": {"type": "object", "required": ["status"], "properties": {"status": {"enum": ["accepted", "duplicate"]}}},
    "JobAccepted": {"type": "object", "required": ["job_id"], "properties": {"job_id": {"type": "string"}, "status": {"type": "string"}}},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}, "checks": {"type": "object"}}},
    "DestinationFilter": {
        "type": "object",
        "additionalProperties": False,
        "description": "Each list, when present, must match; an absent one matches everything. `*` in an event type matches any run of characters.",
        "properties": {
            "event_types": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"}},
            "connectors": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-z0-9_-]+$"}},
            "integration_ids": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}},
        },
    },
    "Destination": {
        "type": "object",
        "required": ["id", "url", "status", "filter", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "url": {"type": "string"},
            "description": {"type": ["string", "null"]},
            "status": {"enum": ["enabled", "disabled"]},
            "disabled_reason": {"type": ["string", "null"]},
            "filter": {"$ref": "#/components/schemas/DestinationFilter"},
            "secret_rotating_until": TIMESTAMP,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    },
    "NewDestination": {
        "allOf": [{"$ref": "#/components/schemas/Destination"}],
        "type": "object",
        "required": ["secret"],
        "properties": {"secret": {"type": "string", "description": "`whsec_` + standard base64 of 32 random bytes; shown only here"}},
    },
    "CreateDestination": {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "minLength": 1, "maxLength": 2048, "description": "http or https (https only in production), no user:password, not a private address"},
            "description": {"type": ["string", "null"], "maxLength": 500, "pattern": NO_NUL},
            "filter": {"anyOf": [{"$ref": "#/components/schemas/DestinationFilter"}, {"type": "null"}]},
        },
    },
    "UpdateDestination": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "url": {"type": "string", "minLength": 1, "maxLength": 2048},
            "description": {"type": ["string", "null"], "maxLength": 500, "pattern": NO_NUL},
            "filter": {"$ref": "#/components/schemas/DestinationFilter"},
            "status": {"enum": ["enabled", "disabled"]},
        },
    },
    "Delivery": {
        "type": "object",
        "required": ["id", "type", "status", "attempts"],
        "properties": {
            "id": {"type": "string", "description": "The `webhook-id` of every attempt"},
            "destination_id": {"type": "string"},
            "event_id": {"type": ["string", "null"]},
            "type": {"type": "string"},
            "status": {"enum": ["pending", "succeeded", "failed"]},
            "attempts": {"type": "integer"},
            "last_status_code": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]},
            "last_response_body": {"type": ["string", "null"], "description": "At most 1 KiB of the receiver's last answer"},
            "next_attempt_at": TIMESTAMP,
            "last_attempt_at": TIMESTAMP,
            "created_at": TIMESTAMP,
        },
    },
    "DeliveryAccepted": {"type": "object", "required": ["delivery_id", "status"], "properties": {"delivery_id": {"type": "string"}, "type": {"type": "string"}, "status": {"type": "string"}}},
}


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _page_errors(*statuses: str) -> dict[str, Any]:
    """Errors of the browser pages are pages too; a database outage stays the API's problem document."""
    described = {
        "400": "A bad value", "401": "An expired or invalid link or key", "403": "A form without its CSRF token",
        "404": "Not found (another tenant's id too)", "409": "Not possible in the current state", "413": "A body over HUB_MAX_REQUEST_BYTES",
        "429": "Too many requests",
    }
    pages = {status: _page(described[status]) for status in statuses}
    pages["503"] = {"description": "A dependency is unavailable", "content": {"text/html": {"schema": {"type": "string"}}, "application/problem+json": {"schema": PROBLEM}}}
    return pages


def _text_path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _text_query(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "schema": {"type": "string"}} for name in names]


SIGN_IN_FIRST = {"303": _redirect("No console session: to the sign-in page")}


def _console_get(operation_id: str, description: str, *, query: tuple[str, ...] = (), errors: tuple[str, ...] = ("404", "429")) -> dict[str, Any]:
    return {"get": {
        "operationId": operation_id, "tags": ["browser"], "description": description, "parameters": _text_query(*query),
        "responses": {"200": _page(description), **SIGN_IN_FIRST, **_page_errors("400", *errors)},
    }}


def _console_post(operation_id: str, description: str) -> dict[str, Any]:
    return {"post": {
        "operationId": operation_id, "tags": ["browser"],
        "description": description + " A form post: it needs the console session's cookie and its csrf_token field.",
        "responses": {"303": _redirect("Done (or no console session: to the sign-in page)"), **_page_errors("400", "403", "404", "409", "413", "429")},
    }}


def web_pages() -> dict[str, Any]:
    """The Connect page and the console: HTML pages for people, documented so every route has its entry."""
    integration = [_text_path("integration_id")]
    event = [_text_path("event_id")]
    destination = [_text_path("destination_id")]
    return {
        "/connect": {"get": {
            "operationId": "connectPage", "tags": ["browser"],
            "description": "The end user's Connect page for a connect token: a Connect link per OAuth connector, a form per API-key connector.",
            "parameters": _text_query("connect_token", "return_to"),
            "responses": {"200": _page("The connectors the token allows"), **_page_errors("400", "401", "429")},
        }},
        "/connect/{connector_id}": {"parameters": [_text_path("connector_id")], "post": {
            "operationId": "connectWithCredentials", "tags": ["browser"],
            "description": "The Connect page's form for an API-key connector (connect_token, csrf_token, name, credential-<field>).",
            "responses": {"303": _redirect("Connected: to the result page"), **_page_errors("400", "401", "403", "404", "409", "413", "429")},
        }},
        "/connect/icons/{connector_id}.svg": {"parameters": [_text_path("connector_id")], "get": {
            "operationId": "connectorIcon", "tags": ["browser"], "description": "A connector's icon, rebuilt from its plain SVG shapes.",
            "responses": {"200": {"description": "The icon", "content": {"image/svg+xml": {"schema": {"type": "string"}}}}, **_page_errors("404")},
        }},
        "/connect/result": {"get": {
            "operationId": "connectResult", "tags": ["browser"],
            "description": "Where a connection from the Connect page ends: connected, or the provider's refusal in plain words.",
            "parameters": _text_query("status", "connector", "error", "integration_id", "connect_token", "return_to"),
            "responses": {"200": _page("The outcome"), **_page_errors("400", "429")},
        }},
        "/console/sign-in": {
            "get": {
                "operationId": "consoleSignInPage", "tags": ["browser"], "description": "The console's sign-in form (a tenant API key).",
                "responses": {"200": _page("The form"), "303": _redirect("Already signed in: to the console"), **_page_errors("429")},
            },
            "post": {
                "operationId": "consoleSignIn", "tags": ["browser"],
                "description": "Sign in with a tenant API key (api_key, csrf_token): a new server-side session; the key is not kept.",
                "responses": {
                    "303": _redirect("Signed in: to the console, with the session cookie"),
                    **_page_errors("401", "403", "413", "429"),
                },
            },
        },
        "/console/sign-out": _console_post("consoleSignOut", "End the console session."),
        "/console": _console_get("consoleOverview", "The tenant's events per hour over the last 24 hours, by connector and status."),
        "/console/integrations": _console_get("consoleIntegrations", "The tenant's integrations, a page at a time.", query=("cursor", "limit")),
        "/console/integrations/{integration_id}": {"parameters": integration, **_console_get("consoleIntegration", "One integration, its webhook URL and actions.")},
        "/console/integrations/{integration_id}/sync": {"parameters": integration, **_console_post("consoleSyncIntegration", "Queue a sync.")},
        "/console/integrations/{integration_id}/status": {"parameters": integration, **_console_post("consoleSetIntegrationStatus", "Disable or enable (status).")},
        "/console/integrations/{integration_id}/delete": {
            "parameters": integration,
            **_console_get("consoleConfirmDelete", "Ask before deleting an integration."),
            **_console_post("consoleDeleteIntegration", "Delete the integration."),
        },
        "/console/events": _console_get("consoleEvents", "The tenant's events, filtered, a page at a time.", query=("status", "connector", "integration_id", "type", "cursor", "limit")),
        "/console/dead-letters": _console_get("consoleDeadLetters", "The tenant's dead events.", query=("connector", "integration_id", "type", "cursor", "limit")),
        "/console/events/{event_id}": {"parameters": event, **_console_get("consoleEvent", "One event and its CloudEvent.")},
        "/console/events/{event_id}/replay": {"parameters": event, **_console_post("consoleReplayEvent", "Queue the event for processing again.")},
        "/console/destinations": {
            **_console_get("consoleDestinations", "The tenant's destinations, a page at a time.", query=("cursor", "limit")),
            "post": {**_console_post("consoleCreateDestination", "Add a destination (url, description, event_types, connectors, integration_ids).")["post"],
                     "responses": {"200": _page("Added: the signing secret, shown this once"), **SIGN_IN_FIRST,
                                   **_page_errors("400", "403", "409", "413", "429")}},
        },
        "/console/destinations/new": _console_get("consoleNewDestination", "The form to add a destination."),
        "/console/destinations/{destination_id}": {"parameters": destination, **_console_get("consoleDestination", "One destination and its actions.")},
        "/console/destinations/{destination_id}/rotate-secret": {"parameters": destination, "post": {
            **_console_post("consoleRotateDestinationSecret", "A new signing secret, shown this once.")["post"],
            "responses": {"200": _page("The new signing secret, shown this once"), **SIGN_IN_FIRST, **_page_errors("403", "404", "413", "429")},
        }},
        "/console/destinations/{destination_id}/status": {"parameters": destination, **_console_post("consoleSetDestinationStatus", "Disable or enable (status).")},
        "/console/destinations/{destination_id}/delete": {
            "parameters": destination,
            **_console_get("consoleConfirmDeleteDestination", "Ask before deleting a destination."),
            **_console_post("consoleDeleteDestination", "Delete the destination and its deliveries."),
        },
        "/console/destinations/{destination_id}/deliveries": {"parameters": destination, **_console_get(
            "consoleDestinationDeliveries", "A destination's deliveries, filtered by status, a page at a time.", query=("status", "cursor", "limit"))},
        "/console/deliveries/{delivery_id}/retry": {"parameters": [_text_path("delivery_id")], **_console_post("consoleRetryDelivery", "Queue one more attempt of a delivery.")},
    }


def build_document() -> dict[str, Any]:
    integration_id = [_path_id("integration_id")]
    connector = [{"name": "connector", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "hub", "version": "0.1.0", "description": "A plugin-based integration hub."},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "A tenant API key"},
                "metricsToken": {"type": "http", "scheme": "bearer", "description": "HUB_METRICS_TOKEN"},
            },
        },
        "paths": {
            "/healthz": {"get": {"operationId": "healthz", "responses": {"200": _json("Process is up", SCHEMAS["Health"])}}},
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "description": "checks: database (reachable), keys (ENCRYPTION_KEY opens what it sealed), key_provider (KMS_KEY reachable and unwraps the stored data keys), queue (reachable).",
                    "responses": {"200": _json("Ready", SCHEMAS["Health"]), "503": _json("A dependency is down", SCHEMAS["Health"])},
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "description": "With HUB_METRICS_TOKEN set, needs `Authorization: Bearer <token>`; with HUB_METRICS_LISTEN set, served only on that listener.",
                    "security": [{}, {"metricsToken": []}],
                    "responses": {
                        "200": {"description": "Prometheus text", "content": {"text/plain": {"schema": {"type": "string"}}}},
                        "401": _problem("Missing or wrong metrics token"),
                        "404": _problem("Metrics are served on their own listener"),
                    },
                }
            },
            "/api/openapi.json": {"get": {"operationId": "openapi", "responses": {"200": _json("This document", {"type": "object"})}}},
            "/api/connectors": {
                "get": {
                    "operationId": "listConnectors",
                    "responses": {
                        "200": _json("Installed connectors", {"type": "object", "required": ["connectors"], "properties": {"connectors": {"type": "array", "items": {"$ref": "#/components/schemas/Connector"}}}}),
                    },
                }
            },
            "/api/integrations": {
                "get": {
                    "operationId": "listIntegrations",
                    "security": BEARER,
                    "parameters": [
                        {"name": "connector", "in": "query", "schema": {"type": "string"}},
                        {"name": "status", "in": "query", "schema": {"enum": ["active", "disabled", "needs_reauth", "revoked", "error"]}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json("The caller's integrations, oldest first, a page at a time", {"type": "object", "required": ["integrations", "next_cursor"], "properties": {"integrations": {"type": "array", "items": {"$ref": "#/components/schemas/Integration"}}, "next_cursor": {"type": ["string", "null"]}}}),
                        "400": _problem("Bad query"),
                        **AUTH_ERRORS,
                    },
                },
                "post": {
                    "operationId": "createIntegration",
                    "security": BEARER,
                    "requestBody": _json_body({"$ref": "#/components/schemas/CreateIntegration"}),
                    "responses": {
                        "201": _json("Created; the account is the one the provider names for these credentials", {"$ref": "#/components/schemas/Integration"}),
                        "400": _problem("Invalid body, or the provider refused the credentials"),
                        "404": _problem("Unknown connector"),
                        "409": _problem("The tenant is at its integration quota"),
                        **TOO_LARGE,
                        **AUTH_ERRORS,
                    },
                },
            },
            "/api/integrations/{integration_id}": {
                "parameters": integration_id,
                "get": {
                    "operationId": "getIntegration",
                    "security": BEARER,
                    "responses": {"200": _json("The integration", {"$ref": "#/components/schemas/Integration"}), "400": _problem("Bad query"), "404": _problem("Not found"), **AUTH_ERRORS},
                },
                "patch": {
                    "operationId": "updateIntegration",
                    "security": BEARER,
                    "requestBody": _json_body({"$ref": "#/components/schemas/UpdateIntegration"}),
                    "responses": {"200": _json("Updated", {"$ref": "#/components/schemas/Integration"}), "400": _problem("Invalid body, or the provider refused the credentials"), "404": _problem("Not found"), "409": _problem("Concurrent change, or a status only a reconnect changes"), **TOO_LARGE, **AUTH_ERRORS},
                },
                "delete": {
                    "operationId": "deleteIntegration",
                    "security": BEARER,
                    "responses": {"204": {"description": "Deleted (soft)"}, "400": _problem("Bad query"), "404": _problem("Not found"), **AUTH_ERRORS},
                },
            },
            "/api/integrations/{integration_id}/proxy/{path}": {
                "parameters": [*integration_id, {"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
                                                 "description": "The provider's path, relative to the connector's API base URL"}],
                **{method: _proxy_operation(method, with_body=method not in ("get", "delete")) for method in ("get", "post", "put", "patch", "delete")},
            },
            "/api/integrations/{integration_id}/sync": {
                "parameters": integration_id,
                "post": {
                    "operationId": "syncIntegration",
                    "security": BEARER,
                    "responses": {"202": _json("Sync queued", {"$ref": "#/components/schemas/JobAccepted"}), "400": _problem("Bad query"), "404": _problem("Not found"), "409": _problem("Integration not active"), **AUTH_ERRORS},
                },
            },
            "/api/keys": {
                "get": {
                    "operationId": "listApiKeys",
                    "security": BEARER,
                    "responses": {
                        "200": _json("The tenant's live API keys (never a key)", {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}}}),
                        "400": _problem("Bad query"),
                        **AUTH_ERRORS,
                    },
                },
                "post": {
                    "operationId": "createApiKey",
                    "security": BEARER,
                    "requestBody": {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateApiKey"}}}},
                    "responses": {
                        "201": _json("The new key, shown only here", {"$ref": "#/components/schemas/NewApiKey"}),
                        "400": _problem("Invalid body"),
                        "409": _problem("The tenant holds the most live keys it may"),
                        **AUTH_ERRORS,
                    },
                },
            },
            "/api/keys/{key_id}": {
                "parameters": [_path_id("key_id")],
                "delete": {
                    "operationId": "revokeApiKey",
                    "security": BEARER,
                    "responses": {"204": {"description": "Revoked: every process refuses it from now on"}, "400": _problem("Bad query"), "404": _problem("Not found"), **AUTH_ERRORS},
                },
            },
            "/api/connect/sessions": {
                "post": {
                    "operationId": "createConnectSession",
                    "security": BEARER,
                    "requestBody": _json_body({"$ref": "#/components/schemas/ConnectSessionRequest"}),
                    "responses": {"201": _json("A connect token", {"$ref": "#/components/schemas/ConnectSession"}), "400": _problem("Invalid body"), "404": _problem("Unknown connector"), **TOO_LARGE, **AUTH_ERRORS},
                }
            },
            "/api/oauth/start/{connector}": {
                "parameters": connector,
                "get": {
                    "operationId": "oauthStart",
                    "description": (
                        "Send the end user's browser here. The redirect sets an HttpOnly, SameSite=Lax cookie that binds the "
                        "flow to this browser: only the browser that called start can finish the flow at the callback. A "
                        "start made with a tenant API key is bound to the client that made it, so a backend mints a connect "
                        "token and sends the browser here instead of handing the provider URL on."
                    ),
                    "parameters": [
                        {"name": "connect_token", "in": "query", "schema": {"type": "string"}},
                        {"name": "return_to", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "302": {
                            "description": "To the provider's authorization page, with the flow's cookie",
                            "headers": {"Location": {"schema": {"type": "string"}}, "Set-Cookie": {"schema": {"type": "string"}}},
                        },
                        "400": _problem("Not an OAuth connector, or return_to outside FRONTEND_URL"),
                        "401": _problem("Missing or invalid connect token"),
                        "403": _problem("Connector not allowed by the connect token"),
                        "404": _problem("Unknown connector"),
                        **COMMON_ERRORS,
                    },
                },
            },
            "/api/oauth/callback/{connector}": {
                "parameters": connector,
                "get": {
                    "operationId": "oauthCallback",
                    "description": "The provider's redirect back. The state is accepted only with the cookie that start set in the same browser; the cookie is cleared.",
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"type": "string"}},
                        {"name": "code", "in": "query", "schema": {"type": "string"}},
                        {"name": "error", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "302": _redirect("To the frontend with status=success or status=error"),
                        "400": _problem("Missing, unknown, expired, reused or other-connector state, or a browser that did not start the flow"),
                        "404": _problem("Unknown connector"),
                        **COMMON_ERRORS,
                    },
                },
            },
            "/api/webhooks/{connector}/{webhook_secret}": {
                "parameters": connector + [{"name": "webhook_secret", "in": "path", "required": True, "schema": {"type": "string"}}],
                "post": {
                    "operationId": "receiveWebhook",
                    "requestBody": {"required": False, "content": {"*/*": {"schema": {}}}},
                    "responses": {
                        "200": {"description": "Accepted, duplicate, or the provider's handshake answered", "content": {"application/json": {"schema": {"type": "object"}}, "text/plain": {"schema": {"type": "string"}}}},
                        "400": _problem("Malformed body under a valid signature"),
                        "401": _problem("Bad or stale signature"),
                        "404": _problem("Unknown connector or secret"),
                        "410": _problem("Deleted or revoked integration"),
                        "413": _problem("Body over the limit"),
                        **COMMON_ERRORS,
                    },
                },
            },
            "/api/events": {
                "get": {
                    "operationId": "listEvents",
                    "security": BEARER,
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"enum": list(EVENT_STATUSES)}},
                        {"name": "integration_id", "in": "query", "schema": {"type": "string"}},
                        {"name": "connector", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json("The tenant's events", {"type": "object", "required": ["events"], "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}, "next_cursor": {"type": ["string", "null"]}}}),
                        "400": _problem("Bad query"),
                        **AUTH_ERRORS,
                    },
                }
            },
            "/api/events/{event_id}": {
                "parameters": [_path_id("event_id")],
                "get": {
                    "operationId": "getEvent",
                    "security": BEARER,
                    "responses": {"200": _json("The event", {"$ref": "#/components/schemas/Event"}), "400": _problem("Bad query"), "404": _problem("Not found"), **AUTH_ERRORS},
                },
            },
            "/api/events/{event_id}/replay": {
                "parameters": [_path_id("event_id")],
                "post": {
                    "operationId": "replayEvent",
                    "security": BEARER,
                    "responses": {"202": _json("Replay queued (an event still on its way keeps its job)", {"$ref": "#/components/schemas/JobAccepted"}), "400": _problem("Bad query"), "404": _problem("Not found"), **AUTH_ERRORS},
                },
            },
            "/api/destinations": {
                "get": {
                    "operationId": "listDestinations",
                    "security": BEARER,
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json("The tenant's destinations, oldest first, a page at a time (never a secret)", {"type": "object", "required": ["destinations", "next_cursor"], "properties": {"destinations": {"type": "array", "items": {"$ref": "#/components/schemas/Destination"}}, "next_cursor": {"type": ["string", "null"]}}}),
                        "400": _problem("Bad query"),
                        **AUTH_ERRORS,
                    },
                },
                "post": {
                    "operationId": "createDestination",
                    "security": BEARER,
                    "requestBody": _json_body({"$ref": "#/components/schemas/CreateDestination"}),
                    "responses": {
                        "201": _json("Registered; the signing secret is shown only here", {"$ref": "#/components/schemas/NewDestination"}),
                        "400": _problem("Invalid body, a URL the hub may not deliver to (scheme, user:password, private address), or an unknown integration in the filter"),
                        "409": _problem("The tenant is at its destination quota"),
                        **TOO_LARGE,
                        **AUTH_ERRORS,
                    },
                },
            },
            "/api/destinations/{destination_id}": {
                "parameters": [_path_id("destination_id")],
                "get": {
                    "operationId": "getDestination",
                    "security": BEARER,
                    "responses": {"200": _json("The destination (never its secret)", {"$ref": "#/components/schemas/Destination"}), "400": _problem("Bad query"), "404": _problem("Not found"), **AUTH_ERRORS},
                },
                "patch": {
                    "operationId": "updateDestination",
                    "security": BEARER,
                    "requestBody": _json_body({"$ref": "#/components/schemas/UpdateDestination"}),
                    "responses": {"200": _json("Updated", {"$ref": "#/components/schemas/Destination"}), "400": _problem("Invalid body or URL"), "404": _problem("Not found"), **TOO_LARGE, **AUTH_ERRORS},
                },
                "delete": {
                    "operationId": "deleteDestination",
                    "security": BEARER,
                    "responses": {"204": {"description": "Deleted with its deliveries; nothing more is sent to it"}, "400": _problem("Bad query"), "404": _problem("Not found"), **AUTH_ERRORS},
                },
            },
            "/api/destinations/{destination_id}/rotate-secret": {
                "parameters": [_path_id("destination_id")],
                "post": {
                    "operationId": "rotateDestinationSecret",
                    "security": BEARER,
                    "responses": {
                        "200": _json("The new secret, shown only here; for 24 hours the previous one signs every delivery too", {"type": "object", "required": ["secret"], "properties": {"secret": {"type": "string"}, "previous_secret_expires_at": TIMESTAMP}}),
                        "400": _problem("Bad query"),
                        "404": _problem("Not found"),
                        **AUTH_ERRORS,
                    },
                },
            },
            "/api/destinations/{destination_id}/test": {
                "parameters": [_path_id("destination_id")],
                "post": {
                    "operationId": "testDestination",
                    "security": BEARER,
                    "responses": {"202": _json("A hub.ping delivery is queued", {"$ref": "#/components/schemas/DeliveryAccepted"}), "400": _problem("Bad query"), "404": _problem("Not found"), "409": _problem("The destination is disabled"), **AUTH_ERRORS},
                },
            },
            "/api/destinations/{destination_id}/deliveries": {
                "parameters": [_path_id("destination_id")],
                "get": {
                    "operationId": "listDeliveries",
                    "security": BEARER,
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"enum": ["pending", "succeeded", "failed"]}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json("The destination's deliveries, newest first, a page at a time", {"type": "object", "required": ["deliveries", "next_cursor"], "properties": {"deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}, "next_cursor": {"type": ["string", "null"]}}}),
                        "400": _problem("Bad query"),
                        "404": _problem("Not found"),
                        **AUTH_ERRORS,
                    },
                },
            },
            "/api/deliveries/{delivery_id}/retry": {
                "parameters": [_path_id("delivery_id")],
                "post": {
                    "operationId": "retryDelivery",
                    "security": BEARER,
                    "responses": {"202": _json("One more attempt is queued, with the same webhook-id", {"$ref": "#/components/schemas/DeliveryAccepted"}), "400": _problem("Bad query"), "404": _problem("Not found"), "409": _problem("The delivery is being attempted right now"), **AUTH_ERRORS},
                },
            },
            **web_pages(),
        },
    }


@blueprint.get("/api/openapi.json")
def openapi_document():  # type: ignore[no-untyped-def]
    return jsonify(build_document())
