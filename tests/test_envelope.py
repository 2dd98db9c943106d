"""Envelope encryption: each tenant's secrets sealed with its own data key, which only the key provider unwraps.

Every test runs with the `local` provider and with `aws-kms` against a KMS
endpoint served over HTTP on 127.0.0.1 (moto), on both databases.
"""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from hub.errors import ConfigurationError, DecryptionFailed
from hub.runtime import current_hub
from hub.storage.crypto import integration_context
from hub.storage.key_check import KeysDoNotOpenStoredData, verify_keys_at_start
from hub.storage.key_providers import generate_local_master_key
from hub.storage.models import DataKey, Integration, db
from hub.tenancy.integrations import create_integration, get_integration_with_credentials, open_credentials, webhook_secret_of
from tests.support.legacy_rows import seal_legacy_integration


@pytest.fixture
def keyed_app(make_app, kms_key):
    return make_app(KMS_KEY=kms_key)


def data_keys_of(tenant_id):
    return db.session.execute(sa.select(DataKey).where(DataKey.tenant_id == tenant_id)).scalars().all()


def fresh(make_app, kms_key):
    """Another process: same settings, nothing cached."""
    return make_app(KMS_KEY=kms_key)


def test_secrets_round_trip_under_a_data_key_stored_only_wrapped(keyed_app, make_app, kms_key, tenant):
    with keyed_app.app_context():
        first = create_integration(tenant.id, connector="stripe", name="one", credentials={"api_key": "rk_one"})
        second = create_integration(tenant.id, connector="stripe", name="two", credentials={"api_key": "rk_two"})
        [data_key] = data_keys_of(tenant.id)
        assert data_key.provider == (kms_key.partition(":")[0] if ":" in kms_key else "local")
        assert len(base64.urlsafe_b64decode(data_key.wrapped_key + "==")) > 32, "stored wrapped, never as the bare key"
        assert {first.key_id, second.key_id} == {data_key.id}
        assert first.credentials_ciphertext.startswith(f"v2.{data_key.id}.")
        assert "rk_one" not in first.credentials_ciphertext
    with fresh(make_app, kms_key).app_context():
        integration, credentials = get_integration_with_credentials(tenant.id, first.id)
        assert credentials == {"api_key": "rk_one"}
        assert webhook_secret_of(integration).startswith("whk_")


def test_each_tenant_has_its_own_data_key(keyed_app, tenant, other_tenant):
    with keyed_app.app_context():
        create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_a"})
        create_integration(other_tenant.id, connector="stripe", name="b", credentials={"api_key": "rk_b"})
        [mine], [theirs] = data_keys_of(tenant.id), data_keys_of(other_tenant.id)
        assert mine.id != theirs.id


def test_a_ciphertext_moved_to_another_tenant_row_or_field_does_not_open(keyed_app, tenant, other_tenant):
    with keyed_app.app_context():
        envelope = current_hub().envelope
        mine = create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_a"})
        theirs = create_integration(other_tenant.id, connector="stripe", name="b", credentials={"api_key": "rk_b"})
        token = mine.credentials_ciphertext

        with pytest.raises(DecryptionFailed):
            open_credentials(other_tenant.id, theirs.id, token)  # another tenant's row
        with pytest.raises(DecryptionFailed):
            open_credentials(tenant.id, new_row := create_integration(tenant.id, connector="stripe", name="c", credentials={}).id, token)
        with pytest.raises(DecryptionFailed):
            envelope.open(tenant.id, integration_context(tenant.id, mine.id, "webhook_secret"), token)  # another field
        assert new_row


def test_a_ciphertext_relabelled_with_another_data_key_id_does_not_open(keyed_app, tenant):
    with keyed_app.app_context():
        envelope = current_hub().envelope
        row = create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_a"})
        other_key_id, _ = envelope.create_data_key(tenant.id)
        db.session.commit()
        version, _key_id, body = row.credentials_ciphertext.split(".", 2)
        with pytest.raises(DecryptionFailed):
            open_credentials(tenant.id, row.id, f"{version}.{other_key_id}.{body}")


def test_a_data_key_wrapped_for_one_tenant_does_not_unwrap_as_another(keyed_app, make_app, kms_key, tenant, other_tenant):
    """The provider binds each wrapped key to its owner and id (a KMS encryption context): copied rows do not unwrap."""
    with keyed_app.app_context():
        create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_a"})
        theirs = create_integration(other_tenant.id, connector="stripe", name="b", credentials={"api_key": "rk_b"}).id
        [mine] = data_keys_of(tenant.id)
        db.session.execute(sa.update(DataKey).where(DataKey.tenant_id == other_tenant.id).values(wrapped_key=mine.wrapped_key))
        db.session.commit()
    with fresh(make_app, kms_key).app_context():
        with pytest.raises(DecryptionFailed):
            get_integration_with_credentials(other_tenant.id, theirs)


def test_values_sealed_under_encryption_key_keep_opening(keyed_app, make_app, kms_key, tenant):
    with keyed_app.app_context():
        integration_id, secret = seal_legacy_integration(tenant.id, {"api_key": "rk_old"})
        assert db.session.get(Integration, integration_id).credentials_ciphertext.startswith("v1.")
    with fresh(make_app, kms_key).app_context():
        integration, credentials = get_integration_with_credentials(tenant.id, integration_id)
        assert credentials == {"api_key": "rk_old"}
        assert webhook_secret_of(integration) == secret
    without_ring = make_app(KMS_KEY=kms_key, ENCRYPTION_KEY=None)
    with without_ring.app_context():
        with pytest.raises(KeysDoNotOpenStoredData) as refused:
            verify_keys_at_start(current_hub().envelope)
        assert "ENCRYPTION_KEY" in str(refused.value)


def test_a_credential_update_seals_a_legacy_row_under_the_data_key(keyed_app, tenant):
    from hub.tenancy.integrations import update_integration_credentials

    with keyed_app.app_context():
        integration_id, secret = seal_legacy_integration(tenant.id, {"api_key": "rk_old"})
        updated = update_integration_credentials(tenant.id, integration_id, {"api_key": "rk_new"})
        [data_key] = data_keys_of(tenant.id)
        assert updated.key_id == data_key.id
        assert updated.webhook_secret_ciphertext.startswith("v2.") and webhook_secret_of(updated) == secret


def test_the_key_provider_is_ready_and_checked_at_start(keyed_app, tenant):
    with keyed_app.app_context():
        create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_a"})
        verify_keys_at_start(current_hub().envelope)
    response = keyed_app.test_client().get("/readyz")
    assert response.status_code == 200 and response.json["checks"]["key_provider"] == "ok"


def test_another_local_master_key_is_refused_at_start_and_not_ready(make_app, tenant):
    right = make_app()
    with right.app_context():
        create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_a"})
    other_key = generate_local_master_key()
    wrong = make_app(KMS_KEY=other_key)
    with wrong.app_context():
        with pytest.raises(KeysDoNotOpenStoredData) as refused:
            verify_keys_at_start(current_hub().envelope)
        assert other_key not in str(refused.value)
    response = wrong.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["key_provider"] == "failed"
    assert other_key not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("setting", "named"),
    [("nope:thing", "not installed (installed: aws-kms, local)"), ("local:bm90IGEga2V5", "32 bytes"), ("aws-kms:", "needs a key id")],
)
def test_a_kms_key_that_names_no_usable_provider_is_refused(make_app, setting, named):
    with pytest.raises(ConfigurationError) as refused:
        make_app(KMS_KEY=setting)
    assert named in str(refused.value)


def test_the_provider_is_asked_once_per_data_key_and_every_call_is_counted(keyed_app, make_app, kms_key, tenant):
    from prometheus_client import REGISTRY

    provider = kms_key.partition(":")[0] if ":" in kms_key else "local"

    def calls(operation, outcome="ok"):
        return REGISTRY.get_sample_value("hub_key_provider_calls_total", {"provider": provider, "operation": operation, "outcome": outcome}) or 0

    def cache(result):
        return REGISTRY.get_sample_value("hub_data_key_cache_total", {"result": result}) or 0

    with keyed_app.app_context():
        integration_id = create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_a"}).id
    unwraps, hits, misses = calls("unwrap"), cache("hit"), cache("miss")
    with fresh(make_app, kms_key).app_context():
        for _ in range(5):
            get_integration_with_credentials(tenant.id, integration_id)
    assert calls("unwrap") - unwraps == 1
    assert cache("miss") - misses == 1 and cache("hit") - hits == 4
    assert REGISTRY.get_sample_value("hub_key_provider_seconds_count", {"provider": provider, "operation": "unwrap"}) >= 1


def test_a_zero_cache_asks_the_provider_every_time(make_app, kms_key, tenant):
    app = make_app(KMS_KEY=kms_key, HUB_DATA_KEY_CACHE_SECONDS=0)
    with app.app_context():
        integration_id = create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_a"}).id
        assert len(current_hub().envelope.cache) == 0
        assert get_integration_with_credentials(tenant.id, integration_id)[1] == {"api_key": "rk_a"}
