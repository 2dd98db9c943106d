"""Sync, health checks and revocation against a fake Slack Web API on 127.0.0.1."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from flask import Flask, jsonify, request

from hub.testing import provider_session, serve_wsgi, sync_page, sync_until_done as sync_pages_until_done

BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
CREDENTIALS = {"access_token": BOT_TOKEN, "token_type": "bot"}


def message(ts: str, text: str = "hello") -> dict:
    return {"type": "message", "user": "U012AB3CDE", "text": text, "ts": ts}


@dataclass
class FakeSlack:
    """conversations.list and conversations.history with Slack's cursor pagination and `ok` envelope."""

    channels: list[dict] = field(default_factory=list)
    history: dict[str, list[dict]] = field(default_factory=dict)  # channel -> messages, newest first
    rate_limited: dict[str, int] = field(default_factory=dict)  # method -> how many calls to refuse
    calls: list[tuple[str, dict]] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN})
    revoked: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.channels.clear()
        self.history.clear()
        self.rate_limited.clear()
        self.calls.clear()
        self.revoked.clear()
        self.valid_tokens = {BOT_TOKEN}

    def channel(self, channel_id: str, *messages: dict, is_member: bool = True) -> None:
        self.channels.append({"id": channel_id, "name": channel_id.lower(), "is_channel": True, "is_member": is_member, "is_archived": False})
        self.history[channel_id] = sorted(messages, key=lambda m: Decimal(m["ts"]), reverse=True)

    def post(self, channel_id: str, *messages: dict) -> None:
        self.history[channel_id] = sorted(self.history[channel_id] + list(messages), key=lambda m: Decimal(m["ts"]), reverse=True)

    def app(self) -> Flask:
        api = Flask("fake-slack")

        def page(items: list, limit: int):
            start = int(request.values.get("cursor") or 0)
            chunk = items[start : start + limit]
            following = start + limit if start + limit < len(items) else None
            return chunk, following

        @api.before_request
        def authenticate():
            method = request.path.lstrip("/")
            self.calls.append((method, request.values.to_dict()))
            if self.rate_limited.get(method):
                self.rate_limited[method] -= 1
                return jsonify({"ok": False, "error": "ratelimited"}), 429, {"Retry-After": "30"}
            token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            if token not in self.valid_tokens:
                return jsonify({"ok": False, "error": "invalid_auth"})  # HTTP 200, as Slack does
            return None

        @api.route("/conversations.list", methods=["GET", "POST"])
        def conversations_list():
            chunk, following = page(self.channels, int(request.values.get("limit", 100)))
            return jsonify({"ok": True, "channels": chunk, "response_metadata": {"next_cursor": str(following) if following else ""}})

        @api.route("/conversations.history", methods=["GET", "POST"])
        def conversations_history():
            channel = request.values["channel"]
            if channel not in self.history:
                return jsonify({"ok": False, "error": "channel_not_found"})
            member = next(c for c in self.channels if c["id"] == channel)["is_member"]
            if not member:
                return jsonify({"ok": False, "error": "not_in_channel"})
            oldest = Decimal(request.values.get("oldest") or 0)
            newer = [m for m in self.history[channel] if Decimal(m["ts"]) > oldest]
            chunk, following = page(newer, int(request.values.get("limit", 100)))
            body = {"ok": True, "messages": chunk, "has_more": following is not None, "pin_count": 0}
            if following:
                body["response_metadata"] = {"next_cursor": str(following)}
            return jsonify(body)

        @api.route("/auth.test", methods=["GET", "POST"])
        def auth_test():
            return jsonify({"ok": True, "url": "https://subarachnoid.slack.com/", "team": "Subarachnoid Workspace", "user": "grace", "team_id": "T12345678", "user_id": "W12345678"})

        @api.route("/auth.revoke", methods=["GET", "POST"])
        def auth_revoke():
            token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            self.valid_tokens.discard(token)
            self.revoked.append(token)
            return jsonify({"ok": True, "revoked": True})

        return api


@pytest.fixture(scope="module")
def slack_server():
    fake = FakeSlack()
    with serve_wsgi(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake


@pytest.fixture
def slack(slack_server):
    slack_server.reset()
    return slack_server


@pytest.fixture
def host(make_host, slack):
    return make_host(SLACK_API_BASE_URL=slack.base_url, SLACK_SYNC_PAGE_SIZE="2")


def run_sync(host, cursor=None, credentials=CREDENTIALS):
    return sync_page(host, "slack", credentials, cursor)


def sync_until_done(host, cursor=None):
    return sync_pages_until_done(host, "slack", CREDENTIALS, cursor)


def test_sync_reads_every_member_channel_across_pages(host, slack):
    slack.channel("C001", message("1700000001.000100"), message("1700000002.000100"), message("1700000003.000100"))
    slack.channel("C002", message("1700000004.000100"))
    slack.channel("C003", message("1700000005.000100"), is_member=False)
    ids, _ = sync_until_done(host)
    assert sorted(ids) == [
        "message:C001:1700000001.000100",
        "message:C001:1700000002.000100",
        "message:C001:1700000003.000100",
        "message:C002:1700000004.000100",
    ]
    list_calls = [params for method, params in slack.calls if method == "conversations.list"]
    assert len(list_calls) == 2 and list_calls[1]["cursor"] == "2", "conversations.list is paged by next_cursor"
    history_calls = [params for method, params in slack.calls if method == "conversations.history" and params["channel"] == "C001"]
    assert [c.get("cursor") for c in history_calls] == [None, "2"], "history is paged by next_cursor"


def test_sync_records_match_the_events_api_message_ids(host, slack):
    slack.channel("C123ABC456", message("1355517523.000005", "Live long and prospect."))
    result = run_sync(host)
    while not result.records:
        result = run_sync(host, result.cursor)
    [record] = result.records
    assert record.id == "message:C123ABC456:1355517523.000005", "same id as the webhook delivery of this message"
    assert record.type == "slack.message" and record.subject == "C123ABC456"
    assert record.data["event"]["text"] == "Live long and prospect."


def test_next_cycle_reads_only_newer_messages(host, slack):
    slack.channel("C001", message("1700000001.000100"), message("1700000002.000100"))
    _, cursor = sync_until_done(host)
    slack.post("C001", message("1700000009.000100"))
    ids, cursor = sync_until_done(host, cursor)
    assert ids == ["message:C001:1700000009.000100"]
    oldest = [params.get("oldest") for method, params in slack.calls if method == "conversations.history"]
    assert oldest[-1] == "1700000002.000100"
    ids, _ = sync_until_done(host, cursor)
    assert ids == []


def test_rate_limit_keeps_the_cursor_and_reports_retry_after(host, slack):
    slack.channel("C001", message("1700000001.000100"))
    listed = run_sync(host)
    slack.rate_limited["conversations.history"] = 1
    limited = run_sync(host, listed.cursor)
    assert limited.records == [] and limited.retry_after == 30.0 and limited.cursor == listed.cursor
    resumed = run_sync(host, limited.cursor)
    assert [r.id for r in resumed.records] == ["message:C001:1700000001.000100"]


def test_a_channel_that_vanished_since_the_listing_is_skipped(host, slack):
    slack.channel("C001", message("1700000001.000100"))
    slack.channel("C002", message("1700000002.000100"))
    listed = run_sync(host)
    del slack.history["C001"]
    ids, _ = sync_until_done(host, listed.cursor)
    assert ids == ["message:C002:1700000002.000100"]


def test_ok_false_under_http_200_fails_the_sync_without_echoing_the_token(host, slack):
    credentials = {"access_token": "xoxb-revoked-token"}
    with pytest.raises(Exception) as raised:
        run_sync(host, credentials=credentials)
    assert "invalid_auth" in str(raised.value) and "xoxb" not in str(raised.value)


def test_health_check_passes_with_a_working_token(host, slack):
    result = host.check_health("slack", session=provider_session(CREDENTIALS), credentials=CREDENTIALS)
    assert result.ok and not result.needs_reauth
    assert slack.calls[-1][0] == "auth.test"


def test_health_check_asks_for_reauthorization_on_invalid_auth(host, slack):
    credentials = {"access_token": "xoxb-revoked-token"}
    result = host.check_health("slack", session=provider_session(credentials), credentials=credentials)
    assert not result.ok and result.needs_reauth


def test_revoke_calls_auth_revoke_and_tolerates_an_already_revoked_token(host, slack):
    host.revoke("slack", session=provider_session(CREDENTIALS), credentials=CREDENTIALS)
    assert slack.revoked == [BOT_TOKEN]
    host.revoke("slack", session=provider_session(CREDENTIALS), credentials=CREDENTIALS)
    result = host.check_health("slack", session=provider_session(CREDENTIALS), credentials=CREDENTIALS)
    assert result.needs_reauth
