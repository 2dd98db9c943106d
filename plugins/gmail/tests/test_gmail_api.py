"""Sync, watch renewal, health checks and revocation against a fake Gmail API on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from gmail_fakes import ACCESS_TOKEN, FIRST_HISTORY_ID, REFRESH_TOKEN, message_id

from hub.testing import provider_session, sync_page, sync_until_done as sync_pages_until_done

CREDENTIALS = {"access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN, "token_type": "Bearer"}


@pytest.fixture
def settings(gmail) -> dict[str, str]:
    return {"GMAIL_API_BASE_URL": gmail.base_url, "GMAIL_SYNC_PAGE_SIZE": "2", "OAUTH_GMAIL_REVOKE_URL": gmail.base_url + "/revoke"}


@pytest.fixture
def host(make_host, settings):
    return make_host(**settings)


def run_sync(host, cursor=None, credentials=CREDENTIALS):
    return sync_page(host, "gmail", credentials, cursor)


def sync_until_done(host, cursor=None):
    return sync_pages_until_done(host, "gmail", CREDENTIALS, cursor)


def ids_of(*numbers: int) -> list[str]:
    return [message_id(n) for n in numbers]


# first sync ----------------------------------------------------------------


def test_first_sync_notes_the_history_id_then_lists_every_message_page_by_page(host, gmail):
    gmail.deliver(1, 2, 3, 4, 5)
    first = run_sync(host)
    assert [c["kind"] for c in gmail.calls[:2]] == ["profile", "messages"], "the historyId is read before listing"
    assert first.has_more and len(first.records) == 2
    ids, cursor = sync_until_done(host, first.cursor)
    ids = [r.id for r in first.records] + ids
    assert sorted(ids) == sorted(ids_of(1, 2, 3, 4, 5)) and len(ids) == len(set(ids))
    listings = gmail.calls_to("messages")
    assert [c["args"].get("pageToken") for c in listings] == [None, ["2"], ["4"]], "messages.list is paged by nextPageToken"
    assert all(c["args"]["maxResults"] == ["2"] for c in listings)
    assert json.loads(cursor) == {"history_id": str(gmail.history_id)}


def test_message_metadata_is_fetched_with_the_documented_parameters(host, gmail):
    gmail.deliver(1)
    run_sync(host)
    [fetch] = gmail.calls_to("message")
    assert fetch["path"] == f"/gmail/v1/users/me/messages/{message_id(1)}"
    assert fetch["args"] == {"format": ["metadata"], "metadataHeaders": ["From", "Subject", "Date"]}
    assert fetch["authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_records_are_message_added_events(host, gmail):
    gmail.deliver(3)
    [record] = run_sync(host).records
    assert record.id == message_id(3)
    assert record.type == "gmail.message.added"
    assert record.subject == message_id(2), "the thread id"
    assert record.time == datetime(2023, 11, 14, 22, 13, 23, tzinfo=UTC)
    assert record.data["headers"] == {
        "From": "Sender 3 <sender3@example.org>",
        "Subject": "Subject 3",
        "Date": "Tue, 14 Nov 2023 22:13:20 +0000",
    }
    assert record.data["labelIds"] == ["INBOX", "UNREAD"] and record.data["threadId"] == message_id(2)


def test_first_sync_of_an_empty_mailbox_stores_the_current_history_id(host, gmail):
    result = run_sync(host)
    assert result.records == [] and not result.has_more
    assert json.loads(result.cursor) == {"history_id": str(FIRST_HISTORY_ID)}


def test_full_listing_can_be_limited_by_a_search(make_host, settings, gmail):
    host = make_host(**settings, GMAIL_SYNC_QUERY="newer_than:30d")
    run_sync(host)
    assert gmail.calls_to("messages")[0]["args"]["q"] == ["newer_than:30d"]


# partial sync --------------------------------------------------------------


def test_later_syncs_read_history_from_the_stored_id_page_by_page(host, gmail):
    gmail.deliver(1, 2)
    _, cursor = sync_until_done(host)
    stored = json.loads(cursor)["history_id"]
    gmail.deliver(3, 4, 5, 6, 7)
    gmail.calls.clear()
    ids, cursor = sync_until_done(host, cursor)
    assert ids == ids_of(3, 4, 5, 6, 7)
    walks = gmail.calls_to("history")
    assert [c["args"]["startHistoryId"] for c in walks] == [[stored]] * 3, "every page of one walk starts from the stored id"
    assert [c["args"].get("pageToken") for c in walks] == [None, ["2"], ["4"]]
    assert all(c["args"]["historyTypes"] == ["messageAdded"] and c["args"]["maxResults"] == ["2"] for c in walks)
    assert gmail.calls_to("messages") == [] and gmail.calls_to("profile") == []
    assert json.loads(cursor) == {"history_id": str(gmail.history_id)}
    gmail.calls.clear()
    ids, _ = sync_until_done(host, cursor)
    assert ids == [] and len(gmail.calls) == 1, "nothing new: one history call, nothing fetched twice"


def test_a_backfill_returns_one_page_per_call_and_resumes_from_its_cursor(host, gmail):
    gmail.deliver(1)
    _, cursor = sync_until_done(host)
    gmail.deliver(2, 3, 4, 5)
    first = run_sync(host, cursor)
    assert first.has_more and [r.id for r in first.records] == ids_of(2, 3)
    assert json.loads(first.cursor)["page"] == "2"
    second = run_sync(host, first.cursor)
    assert not second.has_more and [r.id for r in second.records] == ids_of(4, 5)
    again = run_sync(host, first.cursor)
    assert [r.id for r in again.records] == ids_of(4, 5), "a cursor can be replayed after a crash"


def test_messages_arriving_during_a_walk_are_picked_up_by_the_next_one(host, gmail):
    gmail.deliver(1, 2, 3, 4)
    first = run_sync(host)
    gmail.deliver(5)
    rest, cursor = sync_until_done(host, first.cursor)
    later, _ = sync_until_done(host, cursor)
    seen = [r.id for r in first.records] + rest + later
    assert set(seen) == set(ids_of(1, 2, 3, 4, 5))
    assert message_id(5) in later


def test_history_records_without_new_messages_advance_the_cursor(host, gmail):
    _, cursor = sync_until_done(host)
    gmail.deliver(other_change=True)
    ids, following = sync_until_done(host, cursor)
    assert ids == []
    assert json.loads(following) == {"history_id": str(gmail.history_id)}


def test_a_message_deleted_since_it_was_listed_is_skipped(host, gmail):
    _, cursor = sync_until_done(host)
    gmail.deliver(1, 2)
    gmail.deleted.add(message_id(1))
    result = run_sync(host, cursor)
    assert [r.id for r in result.records] == ids_of(2) and not result.has_more


def test_a_bare_history_id_is_accepted_as_a_cursor(host, gmail):
    gmail.deliver(1)
    start = str(gmail.history_id)
    gmail.deliver(2)
    result = run_sync(host, start)
    assert [r.id for r in result.records] == ids_of(2)


# expired history -------------------------------------------------------------


def test_expired_history_falls_back_to_a_full_listing(host, gmail):
    gmail.deliver(1, 2)
    _, cursor = sync_until_done(host)
    gmail.deliver(3)
    gmail.history_starts_after = gmail.history_id  # everything before now has expired
    gmail.calls.clear()
    first = run_sync(host, cursor)
    assert [c["kind"] for c in gmail.calls[:3]] == ["history", "profile", "messages"]
    assert first.has_more and json.loads(first.cursor)["listing"] is True
    rest, cursor = sync_until_done(host, first.cursor)
    assert sorted([r.id for r in first.records] + rest) == sorted(ids_of(1, 2, 3))
    assert json.loads(cursor) == {"history_id": str(gmail.history_id)}
    gmail.deliver(4)
    ids, _ = sync_until_done(host, cursor)
    assert ids == ids_of(4), "back to partial syncs after the full listing"


# rate limits -----------------------------------------------------------------


def test_a_429_keeps_the_cursor_and_reports_retry_after(host, gmail):
    gmail.deliver(1)
    _, cursor = sync_until_done(host)
    gmail.deliver(2)
    gmail.fail("history", 429, "rateLimitExceeded", retry_after="17")
    limited = run_sync(host, cursor)
    assert limited.records == [] and limited.retry_after == 17.0 and limited.cursor == cursor and limited.has_more
    resumed = run_sync(host, limited.cursor)
    assert [r.id for r in resumed.records] == ids_of(2) and resumed.retry_after is None


@pytest.mark.parametrize("reason", ["userRateLimitExceeded", "rateLimitExceeded"])
def test_a_403_rate_limit_is_a_rate_limit(host, gmail, reason):
    gmail.deliver(1, 2, 3)
    first = run_sync(host)
    gmail.fail("messages", 403, reason, retry_after="3")
    limited = run_sync(host, first.cursor)
    assert limited.records == [] and limited.retry_after == 3.0 and limited.cursor == first.cursor


def test_a_rate_limited_metadata_fetch_retries_the_whole_page(host, gmail):
    gmail.deliver(1, 2)
    _, cursor = sync_until_done(host)
    gmail.deliver(3, 4)
    gmail.fail("message", 429)
    limited = run_sync(host, cursor)
    assert limited.records == [] and limited.cursor == cursor and limited.retry_after == 5.0, "no Retry-After: the default"
    assert [r.id for r in run_sync(host, cursor).records] == ids_of(3, 4)


def test_a_rate_limited_first_sync_starts_over(host, gmail):
    gmail.deliver(1)
    gmail.fail("profile", 429, retry_after="2")
    limited = run_sync(host)
    assert limited.records == [] and limited.cursor is None and limited.retry_after == 2.0
    assert [r.id for r in run_sync(host).records] == ids_of(1)


# failures --------------------------------------------------------------------


def test_other_403s_fail_the_sync(host, gmail):
    gmail.fail("profile", 403, "insufficientPermissions")
    with pytest.raises(Exception, match="403.*insufficientPermissions"):
        run_sync(host)


def test_a_refused_token_fails_the_sync_without_echoing_it(host, gmail):
    credentials = {"access_token": "ya29.revoked-token-value"}
    with pytest.raises(Exception) as raised:
        run_sync(host, credentials=credentials)
    assert "401" in str(raised.value) and "ya29" not in str(raised.value)


@pytest.mark.parametrize("cursor", ["not json", "[1]", '{"history_id": 5}', '{"history_id": "abc"}', '{"listing": true}', '{"page": "2"}', '{"other": "x"}'])
def test_a_cursor_this_connector_did_not_write_is_refused(host, gmail, cursor):
    with pytest.raises(Exception, match="cursor"):
        run_sync(host, cursor)


@pytest.mark.parametrize("size", ["0", "501", "many"])
def test_page_size_must_be_in_range(make_host, settings, gmail, size):
    host = make_host(**dict(settings, GMAIL_SYNC_PAGE_SIZE=size))
    with pytest.raises(Exception, match="GMAIL_SYNC_PAGE_SIZE"):
        run_sync(host)


# watch renewal ---------------------------------------------------------------


def renew(host, credentials=CREDENTIALS):
    return host.renew_subscription("gmail", session=provider_session(credentials), credentials=credentials)


def test_renewal_calls_watch_with_the_topic_and_labels(make_host, settings, gmail):
    host = make_host(**settings, GMAIL_PUBSUB_TOPIC="projects/acme/topics/gmail", GMAIL_WATCH_LABEL_IDS="INBOX, IMPORTANT")
    stored = renew(host)
    [call] = gmail.calls_to("watch")
    assert call["method"] == "POST" and call["path"] == "/gmail/v1/users/me/watch"
    assert call["json"] == {"topicName": "projects/acme/topics/gmail", "labelIds": ["INBOX", "IMPORTANT"]}
    assert call["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert stored == {"watch_history_id": str(FIRST_HISTORY_ID), "watch_expiration": 1700604800000, "watch_topic": "projects/acme/topics/gmail"}


def test_renewal_without_labels_watches_the_whole_mailbox(make_host, settings, gmail):
    host = make_host(**settings, GMAIL_PUBSUB_TOPIC="projects/acme/topics/gmail")
    renew(host)
    assert gmail.calls_to("watch")[0]["json"] == {"topicName": "projects/acme/topics/gmail"}


def test_nothing_to_renew_without_a_topic(host, gmail):
    assert renew(host) is None
    assert gmail.calls == []


def test_a_failed_renewal_raises_without_echoing_the_token(make_host, settings, gmail):
    host = make_host(**settings, GMAIL_PUBSUB_TOPIC="projects/acme/topics/gmail")
    gmail.fail("watch", 403, "forbidden")
    with pytest.raises(Exception) as raised:
        renew(host)
    assert "403" in str(raised.value) and ACCESS_TOKEN not in str(raised.value)


# health ----------------------------------------------------------------------


def check(host, credentials=CREDENTIALS):
    return host.check_health("gmail", session=provider_session(credentials), credentials=credentials)


def test_health_check_passes_with_a_working_token(host, gmail):
    result = check(host)
    assert result.ok and not result.needs_reauth
    assert [c["path"] for c in gmail.calls] == ["/gmail/v1/users/me/profile"]


def test_health_check_asks_for_reauthorization_on_401(host, gmail):
    result = check(host, {"access_token": "ya29.revoked-token-value"})
    assert not result.ok and result.needs_reauth
    assert "ya29" not in result.detail


def test_health_check_reports_other_errors_without_reauthorization(host, gmail):
    gmail.fail("profile", 500)
    result = check(host)
    assert not result.ok and not result.needs_reauth and "500" in result.detail


# revoke ----------------------------------------------------------------------


def revoke(host, credentials=CREDENTIALS):
    host.revoke("gmail", session=provider_session(credentials), credentials=credentials)


def test_revoke_posts_the_refresh_token_to_googles_revoke_endpoint(host, gmail):
    revoke(host)
    [call] = gmail.calls_to("revoke")
    assert call["method"] == "POST" and call["form"] == {"token": REFRESH_TOKEN}
    assert call["authorization"] is None, "the token travels in the form only"
    assert gmail.revoked == [REFRESH_TOKEN]
    assert check(host).needs_reauth


def test_revoke_falls_back_to_the_access_token(host, gmail):
    revoke(host, {"access_token": ACCESS_TOKEN})
    assert gmail.revoked == [ACCESS_TOKEN]


def test_an_already_revoked_token_counts_as_revoked(host, gmail):
    revoke(host)
    revoke(host)
    assert gmail.revoked == [REFRESH_TOKEN]


def test_a_failed_revocation_raises_without_echoing_the_token(host, gmail):
    gmail.fail("revoke", 503)
    with pytest.raises(Exception) as raised:
        revoke(host)
    assert "503" in str(raised.value) and REFRESH_TOKEN not in str(raised.value)


def test_nothing_to_revoke_without_tokens(host, gmail):
    revoke(host, {})
    assert gmail.calls == []
