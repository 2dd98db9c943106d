"""`hub connectors new NAME`: a connector package that installs, loads and passes its own tests as written.

The package is the shortest path through docs/writing_connectors.md: a
pyproject with the entry point, hooks built on `hub.kit` (a timestamped HMAC
signature, a JSON body, `Link` paging with rate limits), a fake of the
provider's API on `hub.testing.FakeProviderAPI`, and tests that run the
conformance suite. An author then replaces the example provider's details
with the real one's, hook by hook, with the tests staying green.
"""

from __future__ import annotations

import re
from pathlib import Path

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")

PYPROJECT = '''[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{title} connector for hub"
requires-python = ">=3.11"
dependencies = ["hub", "requests"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points."hub.connectors"]
{name} = "hub_{name}.connector"

[tool.setuptools.packages.find]
include = ["hub_{name}*"]

[tool.pytest.ini_options]
addopts = "-ra --strict-markers"
'''

README = '''# {dist}

The {title} connector for hub. Install it next to the hub (`pip install -e .`)
and `hub connectors check` lists it.

Tests: `pip install -e '.[test]' && pytest` (SQLite; `HUB_TEST_DATABASES=sqlite,postgresql`
adds PostgreSQL). The guide: the hub's docs/writing_connectors.md.
'''

CONNECTOR = '''"""The {title} connector: API-key integrations, signed webhooks, event sync.

Settings: `{upper}_API_BASE_URL` (default https://api.{name}.example).
Credentials a tenant posts: `api_key`, and `webhook_secret` for the
webhook endpoint it registers at {title}.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests

from hub import hookimpl
from hub.kit import HmacScheme, decode_cursor, encode_cursor, next_page_url, parse_json_object, rate_limit_delay, url_setting
from hub.types import ConnectorInfo, HealthResult, NormalizedEvent, SyncResult, WebhookRequest

# {title} signs "<timestamp>.<raw body>" with HMAC-SHA256, hex, and sends the timestamp beside it.
SIGNATURE = HmacScheme(payload="{{timestamp}}.{{body}}")


class {klass}ApiError(Exception):
    """{title} refused a call; only the status is kept (an error body may quote the request)."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"{title} answered HTTP {{status}}")


def api_url(settings: Mapping[str, str], path: str) -> str:
    return url_setting(settings, "{upper}_API_BASE_URL", default="https://api.{name}.example") + path


def auth(credentials: Mapping[str, Any]) -> dict[str, str]:
    return {{"Authorization": f"Bearer {{credentials.get('api_key', '')}}"}}


@hookimpl
def connector_info() -> ConnectorInfo:
    """What `GET /api/connectors` shows; every supports_* flag needs its hook."""
    return ConnectorInfo(
        display_name="{title}",
        auth_kind="api_key",
        credential_fields={{"api_key": "A {title} API key.", "webhook_secret": "The signing secret of the webhook endpoint."}},
        required_credentials=("api_key",),
        webhook_routing="integration",
        supports_sync=True,
        supports_health_check=True,
    )


@hookimpl
def verify_signature(request: WebhookRequest, credentials: Mapping[str, Any] | None, now: float) -> bool:
    """Over the raw body, before anything parses it; an empty secret verifies nothing."""
    secret = str((credentials or {{}}).get("webhook_secret") or "")
    return SIGNATURE.verify(
        secret, request.body, request.header("{name}-signature"), timestamp=request.header("{name}-timestamp"), now=now
    )


@hookimpl
def normalize(request: WebhookRequest) -> list[NormalizedEvent]:
    """One event per delivery; the id is the provider's, so redeliveries dedupe. ValueError's text goes to the sender."""
    payload = parse_json_object(request.body)
    event_id, kind = payload.get("id"), payload.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(kind, str) or not kind:
        raise ValueError("the event has no id or type")
    return [NormalizedEvent(id=event_id, type=f"{name}.{{kind}}", data=payload.get("data"))]


@hookimpl
def sync(session: requests.Session, credentials: Mapping[str, Any], cursor: str | None, settings: Mapping[str, str]) -> SyncResult:
    """One page of events, following the `Link` header; rate limited: the same cursor and `retry_after`."""
    position = decode_cursor(cursor)
    url = position.get("next")
    if not isinstance(url, str) or not url.startswith(api_url(settings, "/")):
        url = api_url(settings, "/events")
    response = session.get(url, headers=auth(credentials))
    waited = rate_limit_delay(response.status_code, response.headers, now=time.time())
    if waited is not None:
        return SyncResult(records=[], cursor=cursor, has_more=True, retry_after=waited)
    if not response.ok:
        raise {klass}ApiError(response.status_code)
    records = [
        NormalizedEvent(id=item["id"], type=f"{name}.{{item['type']}}", data=item.get("data"))
        for item in response.json()
        if isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("type"), str)
    ]
    following = next_page_url(response.headers.get("Link"), current_url=response.url)
    return SyncResult(records=records, cursor=encode_cursor({{"next": following}}), has_more=following is not None)


@hookimpl
def check_health(session: requests.Session, credentials: Mapping[str, Any], settings: Mapping[str, str]) -> HealthResult:
    response = session.get(api_url(settings, "/events"), params={{"per_page": 1}}, headers=auth(credentials))
    if response.status_code == 401:
        return HealthResult(ok=False, detail="{title} refused the API key (HTTP 401)", needs_reauth=True)
    return HealthResult(ok=response.ok, detail="" if response.ok else f"{title} answered HTTP {{response.status_code}}")
'''

TESTS = '''"""The {title} connector against a fake {title} API on 127.0.0.1, and the hub's connector contract."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from hub.testing import ConnectorContract, FakeProviderAPI, SampleDelivery, host_factory, provider_session, sync_until_done
from hub_{name}.connector import SIGNATURE

API_KEY = "{name}-test-api-key"
EVENT = {{"id": "evt_1", "type": "thing.created", "data": {{"thing": "t_1"}}}}


class Fake{klass}(FakeProviderAPI):
    """{title}'s API as the connector uses it: /events, newest last, paged with a Link header."""

    def __init__(self) -> None:
        self.events = [{{"id": f"evt_{{n}}", "type": "thing.created", "data": {{"n": n}}}} for n in range(1, 6)]
        super().__init__(tokens={{API_KEY}}, per_page=2)

    def routes(self, app):
        @app.get("/events")
        def events():
            return self.link_paginated(self.events)


class Test{klass}Contract(ConnectorContract):
    connector = "{name}"
    distribution = "{dist}"
    package_dir = Path(__file__).resolve().parents[1]

    def samples(self):
        return [SampleDelivery(body=json.dumps(EVENT).encode())]

    def sign(self, body, *, secret, now):
        return {{"{name}-signature": SIGNATURE.sign(secret, body, timestamp=int(now)), "{name}-timestamp": str(int(now))}}

    def sync_api(self):
        return Fake{klass}().running()

    def sync_settings(self, fake):
        return {{"{upper}_API_BASE_URL": fake.base_url}}

    def sync_credentials(self, fake):
        return {{"api_key": API_KEY}}

    def secrets(self):
        return [self.secret, API_KEY]


@pytest.fixture
def fake():
    with Fake{klass}().running() as served:
        yield served


@pytest.fixture
def host(fake):
    return host_factory("{name}")({upper}_API_BASE_URL=fake.base_url)


def test_a_delivery_becomes_one_event_named_after_the_connector(host):
    [event] = host.normalize("{name}", request=Test{klass}Contract().request(SampleDelivery(body=json.dumps(EVENT).encode()), now=time.time()))
    assert (event.id, event.type, event.data) == ("evt_1", "{name}.thing.created", {{"thing": "t_1"}})


def test_sync_sends_the_api_key_and_walks_every_page(host, fake):
    ids, _ = sync_until_done(host, "{name}", {{"api_key": API_KEY}})
    assert ids == [f"evt_{{n}}" for n in range(1, 6)]
    assert {{recorded.token for recorded in fake.requests}} == {{API_KEY}}


def test_health_check_asks_for_a_new_key_when_refused(host):
    refused = host.check_health("{name}", session=provider_session({{}}), credentials={{"api_key": "revoked"}})
    assert not refused.ok and refused.needs_reauth
'''


def write_connector_package(name: str, directory: Path) -> Path:
    """Write `hub-<name>/` (`_` written `-`) under `directory` and return its path; ValueError for a name that cannot be a connector id
    (lower case letters, digits and `_`, starting with a letter) or a folder that exists."""
    if not NAME.fullmatch(name):
        raise ValueError("a connector id is lower-case letters, digits and _, starting with a letter (at most 40)")
    distribution = "hub-" + name.replace("_", "-")
    root = directory / distribution
    if root.exists():
        raise ValueError(f"{root} exists already")
    values = {"dist": distribution, "name": name, "upper": name.upper(), "title": name.replace("_", " ").title(), "klass": name.title().replace("_", "")}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"hub_{name}/__init__.py": '"""The {title} connector for hub: see `hub_{name}.connector`."""\n',
        f"hub_{name}/connector.py": CONNECTOR,
        f"tests/test_{name}.py": TESTS,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values))
    return root
