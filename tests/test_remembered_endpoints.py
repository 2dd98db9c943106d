"""Endpoints a process remembers (hub.webhooks.endpoint_cache) never change an answer.

On PostgreSQL a delivery to an endpoint this process has seen skips the
lookup; these tests change the integration through a second app (another
machine, with its own memory) and check that the first one answers exactly
as if it had looked the endpoint up: 410 at once for a deleted or revoked
integration, new signing secrets honoured and old ones refused at once,
refusals that store nothing, and no delivery stored or queued twice. On
SQLite (nothing is remembered) the same answers hold.
"""

from __future__ import annotations

import pytest

from hub.storage.models import Job, WebhookEvent
from hub.webhooks.endpoint_cache import EndpointCache
from tests.pipeline_fixtures import Pipeline

PIPELINE_SETTINGS = ("HUB_PLUGINS", "SIGNED_APP_SECRET", "HUB_JOB_BACKOFF_SECONDS", "HUB_JOB_MAX_ATTEMPTS", "HUB_REDIS_PREFIX", "REDIS_URL")


def event(event_id: str, **data):
    return {"id": event_id, "type": "thing.created", "data": data}


def remembered(pipeline: Pipeline) -> int:
    return len(pipeline.app.extensions["hub"].part(EndpointCache))


def on_postgresql(pipeline: Pipeline) -> bool:
    return str(pipeline.config["DATABASE_URL"]).startswith("postgresql")


@pytest.fixture
def elsewhere(pipeline, make_app):
    """A second hub app on the same database and queues: another machine, with its own memory."""
    app = make_app(**{key: pipeline.config[key] for key in PIPELINE_SETTINGS if pipeline.config.get(key) is not None})
    return app.test_client()


@pytest.fixture
def seen(pipeline):
    """An integration whose endpoint took one delivery, so this process remembers it (on PostgreSQL)."""
    integration = pipeline.create_integration(signing_secret="whsig_first_secret")
    response = pipeline.deliver(integration["path"], event("evt_first"), secret=integration["signing_secret"])
    assert response.json == {"status": "accepted"}
    assert remembered(pipeline) == (1 if on_postgresql(pipeline) else 0)
    return integration


def stored(pipeline: Pipeline) -> list[str]:
    return sorted(row.provider_event_id for row in pipeline.rows(WebhookEvent))


def test_the_next_delivery_through_a_remembered_endpoint_is_stored_and_queued(pipeline, seen):
    response = pipeline.deliver(seen["path"], event("evt_second"), secret=seen["signing_secret"])
    assert response.json == {"status": "accepted"}
    duplicate = pipeline.deliver(seen["path"], event("evt_second"), secret=seen["signing_secret"])
    assert duplicate.json == {"status": "duplicate"}
    assert stored(pipeline) == ["evt_first", "evt_second"]
    pipeline.run_queues()
    assert sorted(pipeline.processed()) == sorted(row.id for row in pipeline.rows(WebhookEvent))  # each once


def test_an_integration_deleted_elsewhere_answers_410_at_once(pipeline, seen, elsewhere):
    assert elsewhere.delete(f"/api/integrations/{seen['id']}", headers=pipeline.tenant.headers).status_code == 204
    response = pipeline.deliver(seen["path"], event("evt_after"), secret=seen["signing_secret"])
    assert response.status_code == 410
    assert response.mimetype == "application/problem+json"
    assert stored(pipeline) == ["evt_first"]
    assert remembered(pipeline) == 0


def test_an_integration_revoked_by_its_provider_answers_410_at_once(pipeline, seen):
    revoking = pipeline.deliver(seen["path"], {"id": "evt_bye", "type": "account.deauthorized"}, secret=seen["signing_secret"])
    assert revoking.json == {"status": "accepted"}
    response = pipeline.deliver(seen["path"], event("evt_after"), secret=seen["signing_secret"])
    assert response.status_code == 410
    assert stored(pipeline) == ["evt_bye", "evt_first"]


def test_a_signing_secret_rotated_elsewhere_is_honoured_and_the_old_one_refused_at_once(pipeline, seen, elsewhere):
    rotated = elsewhere.patch(
        f"/api/integrations/{seen['id']}", json={"credentials": {"signing_secret": "whsig_second_secret"}}, headers=pipeline.tenant.headers
    )
    assert rotated.status_code == 200, rotated.json
    assert pipeline.deliver(seen["path"], event("evt_new_secret"), secret="whsig_second_secret").json == {"status": "accepted"}
    old = pipeline.deliver(seen["path"], event("evt_old_secret"), secret="whsig_first_secret")
    assert old.status_code == 401
    assert stored(pipeline) == ["evt_first", "evt_new_secret"]


def test_a_bad_signature_on_a_remembered_endpoint_is_401_and_stores_nothing(pipeline, seen):
    response = pipeline.deliver(seen["path"], event("evt_forged"), secret="whsig_guessed_secret")
    assert response.status_code == 401
    assert stored(pipeline) == ["evt_first"]
    assert len(pipeline.rows(Job)) == 1


def test_a_malformed_body_for_a_deleted_integration_is_410_not_400(pipeline, seen, elsewhere):
    assert elsewhere.delete(f"/api/integrations/{seen['id']}", headers=pipeline.tenant.headers).status_code == 204
    response = pipeline.deliver(seen["path"], b"{not json", secret=seen["signing_secret"])
    assert response.status_code == 410


def test_a_malformed_body_on_a_remembered_endpoint_is_400(pipeline, seen):
    response = pipeline.deliver(seen["path"], b"{not json", secret=seen["signing_secret"])
    assert response.status_code == 400
    assert stored(pipeline) == ["evt_first"]


def test_several_events_through_a_remembered_endpoint_are_stored_and_queued_once(pipeline, seen):
    response = pipeline.deliver(seen["path"], {"events": [event("evt_a"), event("evt_b")]}, secret=seen["signing_secret"])
    assert response.json == {"status": "accepted"}
    assert stored(pipeline) == ["evt_a", "evt_b", "evt_first"]
    assert len(pipeline.rows(Job)) == 3
    pipeline.run_queues()
    assert sorted(pipeline.processed()) == sorted(row.id for row in pipeline.rows(WebhookEvent))  # each once


def test_a_handshake_on_a_remembered_endpoint_is_answered_and_stores_nothing(pipeline, seen):
    response = pipeline.deliver(seen["path"], {"type": "ping", "challenge": "c-123"}, secret=seen["signing_secret"])
    assert response.status_code == 200
    assert response.data == b"c-123"
    assert stored(pipeline) == ["evt_first"]


def test_a_delivery_answered_again_from_the_database_counts_once_against_the_rate_limit(pipeline, make_app, elsewhere):
    limited = make_app(**{key: pipeline.config[key] for key in PIPELINE_SETTINGS if pipeline.config.get(key) is not None}, HUB_WEBHOOK_RATE_LIMIT="3/minute")
    client = limited.test_client()
    integration = pipeline.create_integration(signing_secret="whsig_first_secret")
    assert pipeline.deliver(integration["path"], event("evt_1"), secret="whsig_first_secret", client=client).status_code == 200
    rotated = elsewhere.patch(
        f"/api/integrations/{integration['id']}", json={"credentials": {"signing_secret": "whsig_second_secret"}}, headers=pipeline.tenant.headers
    )
    assert rotated.status_code == 200
    # Through the remembered endpoint the signature fails, so this one is answered again from a fresh lookup.
    assert pipeline.deliver(integration["path"], event("evt_2"), secret="whsig_second_secret", client=client).status_code == 200
    assert pipeline.deliver(integration["path"], event("evt_3"), secret="whsig_second_secret", client=client).status_code == 200
    assert pipeline.deliver(integration["path"], event("evt_4"), secret="whsig_second_secret", client=client).status_code == 429
    assert stored(pipeline) == ["evt_1", "evt_2", "evt_3"]


def test_the_memory_is_bounded_in_size_and_age():
    import time

    from hub.webhooks.endpoint_cache import EndpointCache

    cache = EndpointCache(max_entries=2, max_age=0.2)
    for n in range(3):
        cache.remember("signed", f"digest-{n}", f"integration-{n}", "tenant", 1, {"signing_secret": f"s{n}"})
    assert len(cache) == 2
    assert cache.get("signed", "digest-0") is None  # the oldest made room
    entry = cache.get("signed", "digest-2")
    assert entry is not None and entry.credentials["signing_secret"] == "s2"
    with pytest.raises(TypeError):
        entry.credentials["signing_secret"] = "changed"  # type: ignore[index]  # shared by threads: read-only
    assert cache.get("other", "digest-2") is None
    time.sleep(0.25)
    assert cache.get("signed", "digest-2") is None


def test_a_failed_verification_answered_again_from_the_database_counts_once_against_the_failure_limit(pipeline, make_app):
    limited = make_app(
        **{key: pipeline.config[key] for key in PIPELINE_SETTINGS if pipeline.config.get(key) is not None}, HUB_WEBHOOK_FAILURE_RATE_LIMIT="2/minute"
    )
    client = limited.test_client()
    integration = pipeline.create_integration(signing_secret="whsig_first_secret")
    assert pipeline.deliver(integration["path"], event("evt_1"), secret="whsig_first_secret", client=client).status_code == 200
    # Through the remembered endpoint the signature fails, then again from a fresh lookup: one failure, not two.
    statuses = [pipeline.deliver(integration["path"], event(f"evt_bad_{n}"), secret="whsig_guessed", client=client).status_code for n in range(3)]
    assert statuses == [401, 401, 429]
    assert pipeline.deliver(integration["path"], event("evt_2"), secret="whsig_first_secret", client=client).status_code == 200
    assert stored(pipeline) == ["evt_1", "evt_2"]
