"""The GitHub connector against a fake GitHub and a fake OAuth server on 127.0.0.1, alone and inside a real hub."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from fake_github import USER, FakeGitHub, issue
from test_github_contract import ISSUE_OPENED, PULL_REQUEST_CLOSED, PUSH, SIGNATURE

from hub.kit import decode_cursor
from hub.testing import FakeOAuthProvider, connect_with_oauth, drain_queues, host_factory, provider_session, sync_page, sync_until_done
from hub.types import WebhookRequest

TOKEN = {"access_token": "gho_test_token"}


@pytest.fixture(scope="module")
def served():
    fake = FakeGitHub()
    with fake.serve():
        yield fake


@pytest.fixture
def github(served):
    served.reset()
    served.issues = [issue(number) for number in range(1, 6)]
    return served


@pytest.fixture
def host(github):
    return host_factory("github")(GITHUB_API_BASE_URL=github.base_url, GITHUB_SYNC_PAGE_SIZE="2",
                                  OAUTH_GITHUB_CLIENT_ID="hub-test-client", OAUTH_GITHUB_CLIENT_SECRET="client-secret")


def webhook(event: str, payload: dict | bytes, guid: str = "d-1", content_type: str = "application/json") -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"x-github-event": event, "x-github-delivery": guid, "content-type": content_type}
    return WebhookRequest(headers=headers, body=body, content_type=content_type)


# webhooks -------------------------------------------------------------------


def test_a_push_names_its_branch_and_commits(host):
    [event] = host.normalize("github", request=webhook("push", PUSH, "guid-1"))
    assert (event.id, event.type, event.subject) == ("guid-1", "github.push", "octo-org/hello@refs/heads/main")
    assert event.data["commits"] == [{"id": "a" * 40, "message": "Fix", "author": "Mona"}]


def test_issues_and_pull_requests_are_typed_by_their_action(host):
    [opened] = host.normalize("github", request=webhook("issues", ISSUE_OPENED))
    [closed] = host.normalize("github", request=webhook("pull_request", PULL_REQUEST_CLOSED))
    assert (opened.type, opened.subject, opened.data["issue"]["title"]) == ("github.issues.opened", "octo-org/hello#7", "Issue 7")
    assert (closed.type, closed.data["pull_request"]["merged"]) == ("github.pull_request.closed", True)


def test_other_events_keep_their_payload(host):
    [event] = host.normalize("github", request=webhook("star", {"action": "created", "repository": {"full_name": "o/r"}}))
    assert event.type == "github.star.created" and event.data["payload"]["action"] == "created"


def test_a_form_encoded_delivery_reads_its_payload_field(host):
    body = urlencode({"payload": json.dumps(ISSUE_OPENED)}).encode()
    [event] = host.normalize("github", request=webhook("issues", body, content_type="application/x-www-form-urlencoded"))
    assert event.type == "github.issues.opened"


@pytest.mark.parametrize("missing", ["x-github-delivery", "x-github-event"])
def test_a_delivery_without_its_headers_is_refused(host, missing):
    request = webhook("issues", ISSUE_OPENED)
    headers = {name: value for name, value in request.headers.items() if name != missing}
    with pytest.raises(ValueError, match="X-GitHub-Delivery"):
        host.normalize("github", request=WebhookRequest(headers=headers, body=request.body, content_type="application/json"))


def test_the_ping_is_answered_and_stores_nothing(host):
    answer = host.webhook_handshake("github", request=webhook("ping", {"zen": "Keep it logically awesome."}))
    assert answer.status == 200 and json.loads(answer.body) == {"status": "pong"}
    assert host.normalize("github", request=webhook("ping", {"zen": "x"})) == []


def test_the_signature_uses_the_integrations_secret_and_no_other(host):
    request = webhook("push", PUSH)
    signed = WebhookRequest(headers={**request.headers, "x-hub-signature-256": SIGNATURE.sign("s3cret", request.body)}, body=request.body)
    assert host.verify_signature("github", request=signed, credentials={"webhook_secret": "s3cret"})
    assert not host.verify_signature("github", request=signed, credentials={"webhook_secret": "other"})
    assert not host.verify_signature("github", request=signed, credentials=None)


# sync ------------------------------------------------------------------------


def test_sync_follows_the_link_header_page_by_page(host, github):
    ids, cursor = sync_until_done(host, "github", TOKEN)
    assert ids == [f"issue:{1000 + n}:2024-01-{n:02d}T10:00:00Z" for n in range(1, 6)]
    assert [recorded.args.get("page") for recorded in github.requests_to("/issues")] == [None, "2", "3"]
    assert decode_cursor(cursor) == {"next": None, "since": "2024-01-05T10:00:00Z"}


def test_a_later_sync_asks_only_for_what_changed_since(host, github):
    _, cursor = sync_until_done(host, "github", TOKEN)
    github.issues.append(issue(3, updated="2024-02-01T00:00:00Z", pull_request=True))
    ids, _ = sync_until_done(host, "github", TOKEN, cursor)
    assert github.requests[-1].args["since"] == "2024-01-05T10:00:00Z"
    assert "pull_request:1003:2024-02-01T00:00:00Z" in ids


def test_a_retry_after_keeps_the_cursor(host, github):
    first = sync_page(host, "github", TOKEN)
    github.rate_limit(42)
    limited = sync_page(host, "github", TOKEN, first.cursor)
    assert (limited.records, limited.cursor, limited.retry_after) == ([], first.cursor, 42.0)


def test_a_refused_token_fails_the_sync_without_echoing_it(host):
    with pytest.raises(Exception) as raised:
        sync_page(host, "github", {"access_token": "gho_revoked"})
    assert "401" in str(raised.value) and "gho_revoked" not in str(raised.value)


# health and revoke --------------------------------------------------------------


def test_health_check_passes_with_a_working_token_and_asks_for_reauth_without(host):
    assert host.check_health("github", session=provider_session(TOKEN), credentials=TOKEN).ok
    refused = host.check_health("github", session=provider_session({"access_token": "gone"}), credentials={})
    assert not refused.ok and refused.needs_reauth


def test_revoke_deletes_the_oauth_grant_with_the_apps_credentials(host, github):
    host.revoke("github", session=provider_session(TOKEN), credentials=TOKEN)
    assert github.grants_deleted == [("hub-test-client:client-secret", "gho_test_token")]


# through a real hub ------------------------------------------------------------------


@pytest.fixture
def oauth():
    provider = FakeOAuthProvider(token_response_format="accept", token_endpoint_auth_method="client_secret_post")
    with provider.serve():
        yield provider


@pytest.fixture
def hub_app(make_app, oauth, github):
    github.oauth = oauth
    return make_app(environ={
        "OAUTH_GITHUB_CLIENT_ID": oauth.client_id, "OAUTH_GITHUB_CLIENT_SECRET": oauth.client_secret,
        "OAUTH_GITHUB_AUTHORIZE_URL": oauth.authorize_url, "OAUTH_GITHUB_TOKEN_URL": oauth.token_url,
        "GITHUB_API_BASE_URL": github.base_url,
    })


def test_connect_then_receive_a_signed_delivery_once_and_process_it(hub_app, tenant):
    client = hub_app.test_client()
    landed = connect_with_oauth(hub_app, tenant, "github")
    assert landed["status"] == "success", landed
    integration = client.get(f"/api/integrations/{landed['integration_id']}", headers=tenant.headers).json
    assert integration["external_account_id"] == str(USER["id"])
    patched = client.patch(f"/api/integrations/{integration['id']}", headers=tenant.headers, json={"credentials": {"webhook_secret": "s3cret"}})
    assert patched.status_code == 200, patched.json
    assert patched.json["external_account_id"] == str(USER["id"]), "the account GitHub named stays"
    tokens = client.patch(f"/api/integrations/{integration['id']}", headers=tenant.headers, json={"credentials": {"access_token": "mine"}})
    assert tokens.status_code == 400 and "access_token" in tokens.json["detail"]
    path = integration["webhook_url"].removeprefix("http://hub.test")
    body = json.dumps(ISSUE_OPENED).encode()
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "guid-9", "Content-Type": "application/json"}

    assert client.post(path, data=body, headers={**headers, "X-Hub-Signature-256": SIGNATURE.sign("other", body)}).status_code == 401
    first = client.post(path, data=body, headers={**headers, "X-Hub-Signature-256": SIGNATURE.sign("s3cret", body)})
    again = client.post(path, data=body, headers={**headers, "X-Hub-Signature-256": SIGNATURE.sign("s3cret", body)})
    assert (first.json["status"], again.json["status"]) == ("accepted", "duplicate")
    drain_queues(hub_app)
    [event] = client.get("/api/events", headers=tenant.headers).json["events"]
    assert (event["type"], event["status"]) == ("github.issues.opened", "processed")


def test_the_ping_of_a_new_webhook_is_answered(hub_app, tenant):
    client = hub_app.test_client()
    landed = connect_with_oauth(hub_app, tenant, "github")
    integration_id = landed["integration_id"]
    client.patch(f"/api/integrations/{integration_id}", headers=tenant.headers, json={"credentials": {"webhook_secret": "s3cret"}})
    path = client.get(f"/api/integrations/{integration_id}", headers=tenant.headers).json["webhook_url"].removeprefix("http://hub.test")
    body = b'{"zen": "Design for failure.", "hook_id": 1}'
    pinged = client.post(path, data=body, headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "g-1", "X-Hub-Signature-256": SIGNATURE.sign("s3cret", body)})
    assert pinged.status_code == 200 and pinged.json == {"status": "pong"}


def test_the_rest_api_is_proxied_with_the_users_token(host, github):
    config = host.proxy_config("github", credentials=TOKEN)

    assert config.base_url == github.base_url
    assert config.headers == {"Authorization": "Bearer gho_test_token"}
    assert config.honours_idempotency_key is False
    assert host.proxy_config("github", credentials={"webhook_secret": "s3cret"}) is None, "a webhook-only integration has no API to call"


def test_a_call_through_the_proxy_reaches_github_as_the_connected_user(hub_app, tenant, github):
    client = hub_app.test_client()
    landed = connect_with_oauth(hub_app, tenant, "github")

    answer = client.get(f"/api/integrations/{landed['integration_id']}/proxy/user",
                        headers={**tenant.headers, "Accept": "application/vnd.github+json"})

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json == USER
    [call] = github.requests_to("/user")[-1:]
    assert call.token in github.oauth.tokens, "the token GitHub issued at connect time, never the caller's hub key"
    assert tenant.api_key not in str(call.headers)
