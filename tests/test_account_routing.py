"""App-level webhooks reach only integrations whose account the provider itself named.

Stripe's platform endpoint routes each event by its `account` to every live
integration of that account, in every tenant. The account an integration
routes by is learned from Stripe (`GET /v1/account` with the tenant's own
key, or the Connect token response), never from a request field, so a
tenant cannot claim another tenant's account and receive its events.
Everything runs against a fake Stripe API and a fake Connect OAuth server
on 127.0.0.1, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

import pytest
import sqlalchemy as sa

from hub.storage.models import Integration, WebhookEvent, db
from hub.testing import make_tenant
from hub.testkit.oauth_server import FakeOAuthProvider
from tests.oauth_fixtures import authorize, callback, connect_token, query_of, start

PLATFORM_SECRET = "whsec_test_platform_secret_0123456789"
VICTIM_ACCOUNT = "acct_1VictimAccount"
ATTACKER_ACCOUNT = "acct_1AttackerAccount"
ATTACKER_CONNECT_ACCOUNT = "acct_1AttackerConnected"
VICTIM_KEY = "rk_test_51VictimRestrictedKey"
ATTACKER_KEY = "rk_test_51AttackerRestrictedKey"


@pytest.fixture
def connect_provider():
    """Stripe Connect's OAuth server: the grant belongs to the attacker's own connected account."""
    fake = FakeOAuthProvider(require_pkce=False, scopes=("read_write",), extra_token_fields={"stripe_user_id": ATTACKER_CONNECT_ACCOUNT})
    with fake.serve():
        yield fake


def stripe_settings(stripe_api, connect_provider=None) -> dict[str, str]:
    settings = {"STRIPE_WEBHOOK_SECRET": PLATFORM_SECRET, "STRIPE_API_BASE_URL": stripe_api.base_url}
    if connect_provider is not None:
        settings.update(
            OAUTH_STRIPE_AUTHORIZE_URL=connect_provider.authorize_url,
            OAUTH_STRIPE_TOKEN_URL=connect_provider.token_url,
            OAUTH_STRIPE_CLIENT_ID=connect_provider.client_id,
            OAUTH_STRIPE_CLIENT_SECRET=connect_provider.client_secret,
        )
    return settings


@pytest.fixture
def app(make_app, stripe_api, connect_provider):
    stripe_api.key_of(VICTIM_ACCOUNT, VICTIM_KEY)
    stripe_api.key_of(ATTACKER_ACCOUNT, ATTACKER_KEY)
    return make_app(**stripe_settings(stripe_api, connect_provider))


@pytest.fixture
def victim(app):
    return make_tenant(app, "Victim Inc")


@pytest.fixture
def attacker(app):
    return make_tenant(app, "Mallory Ltd")


def create(client, tenant, api_key, **extra):
    body = {"connector": "stripe", "name": "Stripe", "credentials": {"api_key": api_key}, **extra}
    return client.post("/api/integrations", json=body, headers=tenant.headers)


def app_path(app) -> str:
    from hub.tenancy.connector_apps import app_webhook_secret

    with app.app_context():
        return f"/api/webhooks/stripe/{app_webhook_secret('stripe')}"


def platform_event(client, app, event_id: str, account: str):
    """A `charge.succeeded` for `account` at the platform endpoint, signed as Stripe signs it."""
    body = json.dumps({
        "id": event_id, "object": "event", "type": "charge.succeeded", "created": 1_700_000_000, "livemode": False,
        "account": account, "data": {"object": {"id": "ch_1", "object": "charge", "billing_details": {"email": "customer@victim.example"}}},
    }).encode()
    timestamp = int(time.time())
    signature = hmac.new(PLATFORM_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    response = client.post(app_path(app), data=body, headers={"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={signature}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def stored_for(app, provider_event_id: str) -> set[str]:
    with app.app_context():
        return set(db.session.execute(
            sa.select(WebhookEvent.integration_id).where(WebhookEvent.provider_event_id == provider_event_id)
        ).scalars())


def integration_count(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Integration)).scalar_one()


def assert_problem(response, status, slug=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    if slug:
        assert response.json["type"].endswith("/" + slug)
    return response.json


def test_a_tenant_cannot_claim_another_tenants_account_by_any_route(app, client, victim, attacker, connect_provider):
    victims = create(client, victim, VICTIM_KEY)
    assert victims.status_code == 201 and victims.json["external_account_id"] == VICTIM_ACCOUNT
    before = integration_count(app)

    claimed = create(client, attacker, ATTACKER_KEY, external_account_id=VICTIM_ACCOUNT)
    assert any(error["field"] == "external_account_id" for error in assert_problem(claimed, 400)["errors"])
    assert integration_count(app) == before, "a refused create stores nothing"

    own = create(client, attacker, ATTACKER_KEY)
    assert own.status_code == 201 and own.json["external_account_id"] == ATTACKER_ACCOUNT
    patched = client.patch(f"/api/integrations/{own.json['id']}", json={"external_account_id": VICTIM_ACCOUNT}, headers=attacker.headers)
    assert_problem(patched, 400)
    rekeyed = client.patch(f"/api/integrations/{own.json['id']}", json={"credentials": {"api_key": ATTACKER_KEY}}, headers=attacker.headers)
    assert rekeyed.status_code == 200 and rekeyed.json["external_account_id"] == ATTACKER_ACCOUNT

    started = start(client, connect_token(client, attacker), "stripe", external_account_id=VICTIM_ACCOUNT)
    assert started.status_code == 302, started.get_data(as_text=True)
    back = authorize(started.headers["Location"]) + f"&external_account_id={VICTIM_ACCOUNT}&stripe_user_id={VICTIM_ACCOUNT}"
    landed = query_of(callback(client, back).headers["Location"])
    assert landed["status"] == "success"
    connected = client.get(f"/api/integrations/{landed['integration_id']}", headers=attacker.headers).json
    assert connected["external_account_id"] == ATTACKER_CONNECT_ACCOUNT, "the account comes from the token response"

    platform_event(client, app, "evt_victims_charge", VICTIM_ACCOUNT)
    platform_event(client, app, "evt_attackers_charge", ATTACKER_ACCOUNT)
    assert stored_for(app, "evt_victims_charge") == {victims.json["id"]}
    assert stored_for(app, "evt_attackers_charge") == {own.json["id"]}, "routing itself still works"
    attackers_view = client.get("/api/events", headers=attacker.headers).json["events"]
    assert [event["provider_event_id"] for event in attackers_view] == ["evt_attackers_charge"]
    assert "customer@victim.example" not in json.dumps([e for e in attackers_view if e["provider_event_id"] != "evt_attackers_charge"])


def test_stripe_is_asked_with_the_tenants_own_key_alone(app, client, victim, stripe_api):
    created = create(client, victim, VICTIM_KEY)
    assert created.json["external_account_id"] == VICTIM_ACCOUNT
    assert stripe_api.calls == [{"path": "/v1/account", "stripe_account": None}], "never on behalf of a connected account"


def test_a_key_stripe_refuses_is_a_400_and_nothing_is_stored(app, client, victim):
    unknown = "rk_test_51KeyStripeDoesNotKnow"
    response = create(client, victim, unknown)
    body = assert_problem(response, 400, "credentials-refused")
    assert unknown not in response.get_data(as_text=True) and body["detail"]
    assert integration_count(app) == 0


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("outage", ["stripe answers 503", "nothing listens"])
def test_an_unreachable_stripe_is_a_503_with_retry_after_and_nothing_is_stored(make_app, stripe_api, outage):
    stripe_api.key_of(VICTIM_ACCOUNT, VICTIM_KEY)
    settings = stripe_settings(stripe_api)
    if outage == "nothing listens":
        settings["STRIPE_API_BASE_URL"] = closed_port_url()
    else:
        stripe_api.outage = True
    app = make_app(**settings)
    tenant = make_tenant(app, "Acme")
    response = create(app.test_client(), tenant, VICTIM_KEY)
    assert_problem(response, 503, "provider-unavailable")
    assert int(response.headers["Retry-After"]) > 0
    assert VICTIM_KEY not in response.get_data(as_text=True)
    assert integration_count(app) == 0


def test_a_key_without_access_to_its_account_connects_but_gets_no_app_level_events(app, client, victim, stripe_api):
    restricted = "rk_test_51NoAccountReadPermission"
    stripe_api.without_account_access.add(restricted)
    created = create(client, victim, restricted)
    assert created.status_code == 201 and created.json["external_account_id"] is None
    platform_event(client, app, "evt_for_nobody", VICTIM_ACCOUNT)
    assert stored_for(app, "evt_for_nobody") == set()


def test_new_credentials_route_by_the_account_they_belong_to(app, client, victim, stripe_api):
    created = create(client, victim, VICTIM_KEY).json
    other_key = stripe_api.key_of("acct_1SecondAccount", "rk_test_51KeyOfTheSecondAccount")
    patched = client.patch(f"/api/integrations/{created['id']}", json={"credentials": {"api_key": other_key}}, headers=victim.headers)
    assert patched.status_code == 200 and patched.json["external_account_id"] == "acct_1SecondAccount"
    platform_event(client, app, "evt_old_account", VICTIM_ACCOUNT)
    platform_event(client, app, "evt_new_account", "acct_1SecondAccount")
    assert stored_for(app, "evt_old_account") == set()
    assert stored_for(app, "evt_new_account") == {created["id"]}


@pytest.mark.parametrize("failure", ["refused", "outage"])
def test_a_credentials_patch_the_provider_does_not_confirm_changes_nothing(app, client, victim, stripe_api, failure):
    from hub.tenancy.integrations import get_integration_with_credentials

    created = create(client, victim, VICTIM_KEY).json
    if failure == "outage":
        stripe_api.key_of("acct_1SecondAccount", "rk_test_51KeyOfTheSecondAccount")
        stripe_api.outage = True
    response = client.patch(
        f"/api/integrations/{created['id']}", json={"name": "Renamed", "credentials": {"api_key": "rk_test_51KeyOfTheSecondAccount"}}, headers=victim.headers,
    )
    assert_problem(response, 400 if failure == "refused" else 503)
    with app.app_context():
        row, credentials = get_integration_with_credentials(victim.id, created["id"])
        assert (row.name, row.version, row.external_account_id, credentials) == ("Stripe", 1, VICTIM_ACCOUNT, {"api_key": VICTIM_KEY})


def test_accounts_stored_before_they_were_checked_route_nothing_until_the_provider_names_them(app, client, victim, attacker):
    """Rows written when the API still took `external_account_id` from the body are not trusted until re-checked."""
    from hub.provider.accounts import verify_accounts
    from hub.tenancy.integrations import create_integration

    victims = create(client, victim, VICTIM_KEY).json
    claimed = create(client, attacker, ATTACKER_KEY).json["id"]
    refused = create(client, attacker, ATTACKER_KEY).json["id"]
    bystander = make_tenant(app, "Bystander")
    with app.app_context():
        connected = create_integration(
            bystander.id, connector="stripe", name="Connect",
            credentials={"access_token": "sk_test_LegacyConnectToken", "token_type": "bearer", "stripe_user_id": "acct_1LegacyConnected"},
        ).id
        from hub.tenancy.integrations import update_integration_credentials

        update_integration_credentials(attacker.id, refused, {"api_key": "rk_test_51RolledSinceThen"})
        legacy = {claimed: VICTIM_ACCOUNT, refused: VICTIM_ACCOUNT, connected: "acct_1LegacyConnected"}
        for integration_id, account in legacy.items():  # as stored before accounts were checked
            db.session.execute(
                sa.update(Integration).where(Integration.id == integration_id).values(external_account_id=account, account_verified_at=None)
            )
        db.session.commit()

    platform_event(client, app, "evt_before_1", VICTIM_ACCOUNT)
    platform_event(client, app, "evt_before_2", "acct_1LegacyConnected")
    assert stored_for(app, "evt_before_1") == {victims["id"]}
    assert stored_for(app, "evt_before_2") == set()

    with app.app_context():
        outcome = verify_accounts()
    assert outcome == {"verified": 1, "changed": 1, "cleared": 1, "skipped": 0, "failed": 0}
    with app.app_context():
        accounts = {row.id: row.external_account_id for row in db.session.execute(sa.select(Integration)).scalars()}
    assert accounts[claimed] == ATTACKER_ACCOUNT, "the account Stripe names for the attacker's own key"
    assert accounts[refused] is None, "a key Stripe refuses names no account"
    assert accounts[connected] == "acct_1LegacyConnected", "the Connect token names its account"

    platform_event(client, app, "evt_after_1", VICTIM_ACCOUNT)
    platform_event(client, app, "evt_after_2", "acct_1LegacyConnected")
    assert stored_for(app, "evt_after_1") == {victims["id"]}
    assert stored_for(app, "evt_after_2") == {connected}
    with app.app_context():
        assert verify_accounts() == {"verified": 0, "changed": 0, "cleared": 0, "skipped": 0, "failed": 0}, "checked once"


def test_account_verification_is_periodic_work(app):
    from hub.worker.periodic import periodic_schedule

    with app.app_context():
        assert "verify-accounts" in [name for name, _period, _work in periodic_schedule()]
