"""Sync, health checks and deauthorization against a fake Stripe API on 127.0.0.1."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from flask import Flask, jsonify, request

from hub.testing import provider_session, serve_wsgi, sync_page, sync_until_done

API_KEY = "rk_test_51RestrictedKeyOfTheAccount"
PLATFORM_KEY = "sk_test_51PlatformSecretKey"
CONNECTED_ACCOUNT = "acct_1032D82eZvKYlo2C"
KEY_ACCOUNT = "acct_1KeyOwnerAccount"
NO_ACCOUNT_ACCESS_KEY = "rk_test_51WithoutAccountReadAccess"


def stripe_event(number: int) -> dict:
    return {
        "id": f"evt_{number:04d}",
        "object": "event",
        "created": 1_700_000_000 + number,
        "data": {"object": {"id": f"ch_{number:04d}", "object": "charge"}},
        "livemode": False,
        "type": "charge.succeeded",
    }


def stripe_error(status: int, error_type: str, code: str | None = None, param: str | None = None, message: str = ""):
    error = {"type": error_type, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return jsonify({"error": error}), status


@dataclass
class FakeStripe:
    """Stripe's list semantics: newest first; `starting_after` pages older, `ending_before` the page just newer."""

    events: list[dict] = field(default_factory=list)  # newest first
    rate_limited: int = 0
    down: bool = False
    requests: list[dict] = field(default_factory=list)
    valid_keys: set[str] = field(default_factory=lambda: {API_KEY, PLATFORM_KEY, NO_ACCOUNT_ACCESS_KEY})

    def reset(self) -> None:
        self.events.clear()
        self.requests.clear()
        self.rate_limited = 0
        self.down = False

    def publish(self, *numbers: int) -> None:
        for number in numbers:
            self.events.insert(0, stripe_event(number))

    def app(self) -> Flask:
        api = Flask("fake-stripe")

        @api.before_request
        def record_and_authenticate():
            self.requests.append(
                {
                    "path": request.path,
                    "args": request.args.to_dict(),
                    "form": request.form.to_dict(),
                    "authorization": request.headers.get("Authorization"),
                    "stripe_account": request.headers.get("Stripe-Account"),
                }
            )
            key = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            if self.down:
                return stripe_error(500, "api_error")
            if key not in self.valid_keys:
                return stripe_error(401, "invalid_request_error", message="Invalid API Key provided: rk_test_****")
            if key == PLATFORM_KEY and request.path.startswith("/v1/") and request.headers.get("Stripe-Account") != CONNECTED_ACCOUNT:
                return stripe_error(403, "invalid_request_error", message="no access to account")
            return None

        @api.get("/v1/events")
        def list_events():
            if self.rate_limited:
                self.rate_limited -= 1
                response, status = stripe_error(429, "rate_limit_error", code="rate_limit")
                response.headers["Retry-After"] = "7"
                return response, status
            limit = int(request.args.get("limit", 10))
            ids = [e["id"] for e in self.events]
            if "starting_after" in request.args:
                cursor = request.args["starting_after"]
                if cursor not in ids:
                    return stripe_error(400, "invalid_request_error", code="resource_missing", param="starting_after")
                candidates = self.events[ids.index(cursor) + 1 :]
                page = candidates[:limit]
            elif "ending_before" in request.args:
                cursor = request.args["ending_before"]
                if cursor not in ids:
                    return stripe_error(400, "invalid_request_error", code="resource_missing", param="ending_before")
                candidates = self.events[: ids.index(cursor)]
                page = candidates[-limit:]
            else:
                candidates = self.events
                page = candidates[:limit]
            return jsonify({"object": "list", "url": "/v1/events", "has_more": len(candidates) > limit, "data": page})

        @api.get("/v1/account")
        def account():
            key = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            if key == NO_ACCOUNT_ACCESS_KEY:
                return stripe_error(403, "invalid_request_error", message="The provided key does not have the required permissions")
            return jsonify({"id": KEY_ACCOUNT, "object": "account", "settings": {"dashboard": {"display_name": "Key Owner"}}})

        @api.post("/oauth/deauthorize")
        def deauthorize():
            return jsonify({"stripe_user_id": request.form["stripe_user_id"]})

        return api


@pytest.fixture(scope="module")
def stripe_server():
    fake = FakeStripe()
    with serve_wsgi(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake


@pytest.fixture
def stripe(stripe_server):
    stripe_server.reset()
    return stripe_server


@pytest.fixture
def host(make_host, stripe):
    return make_host(
        STRIPE_API_BASE_URL=stripe.base_url,
        STRIPE_CONNECT_BASE_URL=stripe.base_url,
        STRIPE_SYNC_PAGE_SIZE="2",
        OAUTH_STRIPE_CLIENT_ID="ca_PlatformClientId",
        OAUTH_STRIPE_CLIENT_SECRET=PLATFORM_KEY,
    )


API_KEY_CREDENTIALS = {"api_key": API_KEY}
CONNECT_CREDENTIALS = {"access_token": "sk_test_LegacyConnectedAccountToken", "stripe_user_id": CONNECTED_ACCOUNT}


def test_first_sync_backfills_every_event_page_by_page(host, stripe):
    stripe.publish(1, 2, 3, 4, 5)
    ids, cursor = sync_until_done(host, "stripe", API_KEY_CREDENTIALS)
    assert sorted(ids) == ["evt_0001", "evt_0002", "evt_0003", "evt_0004", "evt_0005"]
    assert len(ids) == len(set(ids))
    assert [r["args"].get("limit") for r in stripe.requests] == ["2", "2", "2"]
    assert cursor is not None


def test_later_syncs_fetch_only_newer_events_without_gaps(host, stripe):
    stripe.publish(1, 2, 3)
    _, cursor = sync_until_done(host, "stripe", API_KEY_CREDENTIALS)
    stripe.publish(4, 5, 6, 7, 8)
    ids, cursor = sync_until_done(host, "stripe", API_KEY_CREDENTIALS, cursor)
    assert sorted(ids) == ["evt_0004", "evt_0005", "evt_0006", "evt_0007", "evt_0008"]
    assert all("ending_before" in r["args"] for r in stripe.requests[-3:])
    ids, _ = sync_until_done(host, "stripe", API_KEY_CREDENTIALS, cursor)
    assert ids == [], "nothing new, nothing fetched twice"


def test_events_published_during_a_backfill_are_picked_up_next_time(host, stripe):
    stripe.publish(1, 2, 3, 4)
    first_page = sync_page(host, "stripe", API_KEY_CREDENTIALS)
    stripe.publish(5)
    rest, cursor = sync_until_done(host, "stripe", API_KEY_CREDENTIALS, first_page.cursor)
    later, _ = sync_until_done(host, "stripe", API_KEY_CREDENTIALS, cursor)
    assert sorted([r.id for r in first_page.records] + rest + later) == [f"evt_{n:04d}" for n in range(1, 6)]


def test_records_are_normalized_like_webhooks(host, stripe):
    stripe.publish(1)
    [record] = sync_page(host, "stripe", API_KEY_CREDENTIALS).records
    assert (record.id, record.type, record.subject) == ("evt_0001", "charge.succeeded", "ch_0001")


def test_api_key_integrations_send_their_own_key(host, stripe):
    sync_page(host, "stripe", API_KEY_CREDENTIALS)
    assert stripe.requests[-1]["authorization"] == f"Bearer {API_KEY}"
    assert stripe.requests[-1]["stripe_account"] is None


def test_connect_integrations_send_the_platform_key_and_stripe_account(host, stripe):
    stripe.publish(1)
    result = sync_page(host, "stripe", CONNECT_CREDENTIALS)
    assert [r.id for r in result.records] == ["evt_0001"]
    assert stripe.requests[-1]["authorization"] == f"Bearer {PLATFORM_KEY}"
    assert stripe.requests[-1]["stripe_account"] == CONNECTED_ACCOUNT


def test_rate_limit_keeps_the_cursor_and_reports_retry_after(host, stripe):
    stripe.publish(1, 2, 3)
    first = sync_page(host, "stripe", API_KEY_CREDENTIALS)
    stripe.rate_limited = 1
    limited = sync_page(host, "stripe", API_KEY_CREDENTIALS, first.cursor)
    assert limited.records == [] and limited.retry_after == 7.0 and limited.cursor == first.cursor
    resumed = sync_page(host, "stripe", API_KEY_CREDENTIALS, limited.cursor)
    assert [r.id for r in resumed.records] == ["evt_0001"]


def test_an_expired_cursor_restarts_the_walk(host, stripe):
    stripe.publish(1, 2)
    _, cursor = sync_until_done(host, "stripe", API_KEY_CREDENTIALS)
    stripe.events.clear()
    stripe.publish(3)
    restarted = sync_page(host, "stripe", API_KEY_CREDENTIALS, cursor)
    assert restarted.records == [] and restarted.cursor is None and restarted.has_more
    ids, _ = sync_until_done(host, "stripe", API_KEY_CREDENTIALS, restarted.cursor)
    assert ids == ["evt_0003"]


def test_a_refused_key_fails_the_sync_without_echoing_it(host, stripe):
    credentials = {"api_key": "rk_test_51RevokedKey"}
    with pytest.raises(Exception) as raised:
        sync_page(host, "stripe", credentials)
    assert "401" in str(raised.value) and "rk_test" not in str(raised.value)


def test_health_check_passes_with_a_working_key(host, stripe):
    result = host.check_health("stripe", session=provider_session(API_KEY_CREDENTIALS), credentials=API_KEY_CREDENTIALS)
    assert result.ok and not result.needs_reauth
    assert stripe.requests[-1]["path"] == "/v1/events"


@pytest.mark.parametrize(
    "credentials",
    [{"api_key": "rk_test_51RolledKey"}, {"stripe_user_id": "acct_DisconnectedAccount"}],
    ids=["revoked-key", "disconnected-account"],
)
def test_health_check_asks_for_reauthorization_when_stripe_refuses(host, stripe, credentials):
    result = host.check_health("stripe", session=provider_session(credentials), credentials=credentials)
    assert not result.ok and result.needs_reauth


def test_revoke_deauthorizes_a_connected_account(host, stripe):
    host.revoke("stripe", session=provider_session(CONNECT_CREDENTIALS), credentials=CONNECT_CREDENTIALS)
    call = stripe.requests[-1]
    assert call["path"] == "/oauth/deauthorize"
    assert call["form"] == {"client_id": "ca_PlatformClientId", "stripe_user_id": CONNECTED_ACCOUNT}
    assert call["authorization"] == f"Bearer {PLATFORM_KEY}"


def test_revoke_leaves_api_keys_alone(host, stripe):
    host.revoke("stripe", session=provider_session(API_KEY_CREDENTIALS), credentials=API_KEY_CREDENTIALS)
    assert stripe.requests == []


def account_of(host, credentials):
    return host.api_key_account("stripe", session=provider_session(), credentials=credentials)


def test_an_api_keys_account_is_the_one_stripe_names_to_the_key_itself(host, stripe):
    account = account_of(host, API_KEY_CREDENTIALS)
    assert (account.external_account_id, account.display_name) == (KEY_ACCOUNT, "Key Owner")
    call = stripe.requests[-1]
    assert (call["path"], call["authorization"], call["stripe_account"]) == ("/v1/account", f"Bearer {API_KEY}", None)


def test_a_key_stripe_does_not_know_is_refused_without_echoing_it(host, stripe):
    from hub.types import CredentialsRefused

    with pytest.raises(CredentialsRefused) as raised:
        account_of(host, {"api_key": "rk_test_51RolledKey"})
    assert "rk_test" not in str(raised.value)


def test_a_restricted_key_without_account_access_names_no_account(host, stripe):
    assert account_of(host, {"api_key": NO_ACCOUNT_ACCESS_KEY}) is None


def test_a_stripe_outage_is_not_taken_for_a_refused_key(host, stripe):
    from hub.types import CredentialsRefused

    stripe.down = True
    with pytest.raises(Exception) as raised:
        account_of(host, API_KEY_CREDENTIALS)
    assert not isinstance(raised.value, CredentialsRefused)
