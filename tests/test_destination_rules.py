"""The rules a delivery follows without the network: filters, the retry schedule, the circuit breaker and disabling."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hub.delivery.filters import matches, type_matches
from hub.delivery.retry_schedule import OVERLOAD_FLOOR_SECONDS, attempts_allowed, parse_retry_after, retry_delay
from hub.storage.models import Delivery, Destination, db, utcnow

SCHEDULE = (5.0, 300.0, 1800.0)


@pytest.mark.parametrize(("pattern", "event_type", "expected"), [
    ("charge.*", "charge.succeeded", True),
    ("charge.*", "charge.dispute.created", True),
    ("charge.*", "charges.x", False),
    ("charge.*", "charge", False),
    ("*", "anything.at.all", True),
    ("hub.integration.*", "hub.integration.connected", True),
    ("hub.integration.*", "hub.event.dead", False),
    ("a.b", "aXb", False),
    ("*.created", "customer.created", True),
    ("exact", "exact", True),
])
def test_event_type_patterns(pattern, event_type, expected):
    assert type_matches(pattern, event_type) is expected


def test_absent_filter_lists_match_everything_and_present_ones_must_all_match():
    event = {"event_type": "charge.succeeded", "connector": "stripe", "integration_id": "i1"}
    assert matches({}, **event) and matches(None, **event)
    assert matches({"event_types": ["charge.*"], "connectors": ["stripe"], "integration_ids": ["i1"]}, **event)
    assert not matches({"event_types": ["charge.*"], "connectors": ["slack"]}, **event)
    assert not matches({"integration_ids": ["i2"]}, **event)


def test_the_schedule_has_one_attempt_more_than_delays_and_jitters_within_twenty_percent():
    assert attempts_allowed(SCHEDULE) == 4
    for attempt, scheduled in enumerate(SCHEDULE, start=1):
        delays = [retry_delay(SCHEDULE, attempt) for _ in range(200)]
        assert all(0.8 * scheduled <= delay <= 1.2 * scheduled for delay in delays)
        assert len(set(delays)) > 1
    assert retry_delay(SCHEDULE, 4) is None


def test_a_429_or_a_timeout_waits_at_least_a_minute_and_retry_after_is_held_within_one_to_two_times():
    assert retry_delay(SCHEDULE, 1, overloaded=True) >= OVERLOAD_FLOOR_SECONDS
    assert retry_delay(SCHEDULE, 2, retry_after=1) == 300
    assert retry_delay(SCHEDULE, 2, retry_after=450) == 450
    assert retry_delay(SCHEDULE, 2, retry_after=100_000) == 600
    assert retry_delay(SCHEDULE, 1, overloaded=True, retry_after=1) == OVERLOAD_FLOOR_SECONDS


def test_retry_after_in_seconds_or_as_a_date():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", now) == 120
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.fixture
def hub_app(make_app):
    return make_app(HUB_DESTINATIONS_ALLOW_PRIVATE=True, HUB_DELIVERY_SCHEDULE="0,0,0,0,0,0,0,0", HUB_DELIVERY_CONCURRENCY_PER_DESTINATION=1)


def a_destination_with_deliveries(app, tenant_id, count):
    from hub.queue import deliveries
    from hub.tenancy.destinations import create_destination

    with app.app_context():
        destination, _ = create_destination(tenant_id, url="http://127.0.0.1:9/", description=None, filter_={})
        for n in range(count):
            deliveries.fan_out([deliveries.Announcement(tenant_id=tenant_id, type="order.created", data={"n": n}, timestamp=None)])
        db.session.commit()
        ids = [row.id for row in db.session.query(Delivery).order_by(Delivery.created_at)]
        return destination.id, ids


def test_a_destination_takes_only_its_share_of_attempts_at_once(hub_app, tenant):
    from hub.queue import deliveries
    from hub.queue.outbox import Dispatch

    _, (first, second) = a_destination_with_deliveries(hub_app, tenant.id, 2)
    with hub_app.app_context():
        claimed = deliveries.claim(first)
        held = deliveries.claim(second)
        assert isinstance(claimed, deliveries.DeliveryClaim) and isinstance(held, Dispatch) and held.delay_seconds > 0
        assert db.session.get(Delivery, second).attempts == 0
        assert "whsec_" not in repr(claimed)


def test_the_circuit_opens_after_five_failures_in_a_row_and_a_success_closes_it(hub_app, tenant):
    from hub.queue import deliveries
    from hub.queue.outbox import Dispatch

    destination_id, ids = a_destination_with_deliveries(hub_app, tenant.id, 7)
    with hub_app.app_context():
        for delivery_id in ids[:5]:
            claimed = deliveries.claim(delivery_id)
            deliveries.record_failure(claimed, deliveries.AttemptFailure("the receiver answered 500", 500))
        destination = db.session.get(Destination, destination_id)
        assert destination.consecutive_failures == 5 and destination.circuit_open_until > utcnow()
        assert isinstance(deliveries.claim(ids[5]), Dispatch)
        destination.circuit_open_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
        claimed = deliveries.claim(ids[6])
        assert deliveries.record_success(claimed, 200, b"ok")
        db.session.expire_all()
        destination = db.session.get(Destination, destination_id)
        assert (destination.consecutive_failures, destination.circuit_open_until, destination.failing_since) == (0, None, None)


def test_days_of_nothing_but_failures_disable_a_destination(hub_app, tenant):
    from hub.queue import deliveries

    destination_id, ids = a_destination_with_deliveries(hub_app, tenant.id, 2)
    with hub_app.app_context():
        destination = db.session.get(Destination, destination_id)
        destination.failing_since = utcnow() - timedelta(hours=121)
        destination.consecutive_failures = 1
        db.session.commit()
        claimed = deliveries.claim(ids[0])
        deliveries.record_failure(claimed, deliveries.AttemptFailure("the receiver answered 500", 500))
        db.session.expire_all()
        destination = db.session.get(Destination, destination_id)
        assert destination.status == "disabled" and "HUB_DESTINATION_DISABLE_AFTER_HOURS" in destination.disabled_reason
        assert deliveries.claim(ids[1]) is None
        assert db.session.get(Delivery, ids[1]).status == "failed"


def test_the_relay_hands_out_a_delivery_whose_consumer_died_and_fails_one_on_its_last_attempt(hub_app, tenant):
    from hub.queue import deliveries

    _, (alive, exhausted) = a_destination_with_deliveries(hub_app, tenant.id, 2)
    with hub_app.app_context():
        hub_app.extensions["hub"].settings["HUB_DELIVERY_CONCURRENCY_PER_DESTINATION"] = 5
        deliveries.claim(alive)
        deliveries.claim(exhausted)
        db.session.query(Delivery).update({"lease_expires_at": utcnow() - timedelta(seconds=1)})
        db.session.query(Delivery).filter(Delivery.id == exhausted).update({"max_attempts": 1})
        db.session.commit()
        relayed = deliveries.relay_deliveries()
        assert [d.job_id for d in relayed] == [alive]
        assert db.session.get(Delivery, exhausted).status == "failed"
        assert db.session.get(Delivery, alive).lease_owner is None


def test_old_finished_deliveries_are_pruned_and_pending_ones_stay(hub_app, tenant):
    from hub.worker.periodic import prune_deliveries

    _, (succeeded, failed, pending, recent) = a_destination_with_deliveries(hub_app, tenant.id, 4)
    with hub_app.app_context():
        long_ago = utcnow() - timedelta(days=400)
        for delivery_id, status in ((succeeded, "succeeded"), (failed, "failed"), (pending, "pending"), (recent, "succeeded")):
            db.session.query(Delivery).filter(Delivery.id == delivery_id).update(
                {"status": status, "updated_at": long_ago if delivery_id != recent else utcnow()}
            )
        db.session.commit()
        assert prune_deliveries() == 2
        assert sorted(row.id for row in db.session.query(Delivery)) == sorted([pending, recent])


def test_a_batch_takes_due_deliveries_of_one_destination_only_and_gives_back_what_it_did_not_attempt(hub_app, tenant):
    from hub.queue import deliveries

    mine, ids = a_destination_with_deliveries(hub_app, tenant.id, 3)
    with hub_app.app_context():
        from hub.tenancy.destinations import create_destination

        other, _ = create_destination(tenant.id, url="http://127.0.0.1:10/", description=None, filter_={})
        db.session.commit()
        deliveries.fan_out([deliveries.Announcement(tenant_id=tenant.id, type="order.created", data={}, timestamp=None)])
        db.session.commit()
        of = lambda destination_id: {row.id for row in db.session.query(Delivery).filter(Delivery.destination_id == destination_id)}  # noqa: E731
        assert len(of(mine)) == 4 and len(of(other.id)) == 1
        batch = deliveries.claim_batch(ids[1], limit=10)
        assert batch[0].delivery_id == ids[1]
        assert {c.delivery_id for c in batch} == of(mine)
        assert len({c.owner for c in batch}) == 1
        released = deliveries.release(batch[1:])
        assert sorted(d.job_id for d in released) == sorted(c.delivery_id for c in batch[1:])
        db.session.expire_all()
        assert [db.session.get(Delivery, c.delivery_id).attempts for c in batch] == [1] + [0] * (len(batch) - 1)
        assert deliveries.record_successes([(batch[0], 200, b"ok")]) == 1
        assert db.session.get(Delivery, ids[1]).status == "succeeded"


def test_new_data_keys_reseal_destination_secrets_which_still_sign(hub_app, tenant):
    from hub.runtime import current_hub
    from hub.storage.key_rotation import rotate_data_keys
    from hub.tenancy.destinations import create_destination, rotate_secret, secrets_in_force

    with hub_app.app_context():
        destination, first = create_destination(tenant.id, url="http://127.0.0.1:9/", description=None, filter_={})
        second = rotate_secret(tenant.id, destination.id)
        before = db.session.get(Destination, destination.id).key_id
        report = rotate_data_keys(current_hub().envelope)
        db.session.expire_all()
        row = db.session.get(Destination, destination.id)
        assert report.unreadable == 0 and row.key_id != before
        assert secrets_in_force(row) == [second, first]
