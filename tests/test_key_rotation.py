"""`hub keys rotate` re-wraps data keys under the newest master key; `--data-keys` re-seals every secret under new data keys.

Both providers: `local` (a new key put first in KMS_KEY) and `aws-kms` (the
alias pointed at a second KMS key made with CreateKey).
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from hub.cli import main
from hub.runtime import current_hub
from hub.storage.key_check import verify_keys_at_start
from hub.storage.key_providers import generate_local_master_key
from hub.storage.key_rotation import rotate_data_keys
from hub.storage.models import ConnectorApp, DataKey, Integration, db
from hub.tenancy.connector_apps import app_webhook_secret
from hub.tenancy.integrations import (
    create_integration,
    get_integration_with_credentials,
    update_integration_credentials,
    webhook_secret_of,
)
from tests.support.legacy_rows import legacy_rows, seal_legacy_connector_app, seal_legacy_integration


def _seed(app, tenant, count=3):
    with app.app_context():
        seeded = []
        for n in range(count):
            row = create_integration(tenant.id, connector="stripe", name=f"acct {n}", credentials={"api_key": f"rk_{n}"})
            seeded.append((row.id, webhook_secret_of(row)))
        return seeded, app_webhook_secret("slack")


def _rows():
    return db.session.execute(
        sa.select(Integration.id, Integration.credentials_ciphertext, Integration.webhook_secret_ciphertext, Integration.version)
        .order_by(Integration.id)
    ).all()


def _assert_readable(app, tenant, seeded, app_secret):
    with app.app_context():
        for n, (integration_id, webhook_secret) in enumerate(seeded):
            integration, credentials = get_integration_with_credentials(tenant.id, integration_id)
            assert credentials == {"api_key": f"rk_{n}"}
            assert webhook_secret_of(integration) == webhook_secret
        assert app_webhook_secret("slack") == app_secret


def _new_master_key(kms_key, fake_kms_or_none):
    """KMS_KEY after a new master key is made: put first (local), or the alias moved to a new KMS key (aws-kms)."""
    if kms_key.startswith("aws-kms:"):
        new_key = fake_kms_or_none.new_key()
        fake_kms_or_none.client.update_alias(AliasName=kms_key.partition(":")[2], TargetKeyId=new_key)
        return kms_key, kms_key
    new = generate_local_master_key()
    return f"{new},{kms_key}", new


@pytest.fixture
def kms(request, kms_key):
    return request.getfixturevalue("fake_kms") if kms_key.startswith("aws-kms:") else None


def test_rotate_rewraps_every_data_key_and_touches_no_row(make_app, kms_key, kms, tenant):
    old_app = make_app(KMS_KEY=kms_key)
    seeded, app_secret = _seed(old_app, tenant)
    with old_app.app_context():
        before_rows = _rows()
        before_keys = {row.id: row.master_key_id for row in db.session.execute(sa.select(DataKey)).scalars()}
    rotating_setting, newest_only = _new_master_key(kms_key, kms)
    rotating = make_app(KMS_KEY=rotating_setting)

    result = rotating.test_cli_runner().invoke(main, args=["keys", "rotate"])

    assert result.exit_code == 0, result.output
    assert f"re-wrapped {len(before_keys)} data keys" in result.output
    with rotating.app_context():
        assert _rows() == before_rows, "no credential row is touched"
        after_keys = {row.id: row.master_key_id for row in db.session.execute(sa.select(DataKey)).scalars()}
        assert after_keys.keys() == before_keys.keys()
        assert len(set(after_keys.values())) == 1 and set(after_keys.values()).isdisjoint(before_keys.values())
        assert "rk_" not in result.output
    _assert_readable(make_app(KMS_KEY=newest_only), tenant, seeded, app_secret)
    again = rotating.test_cli_runner().invoke(main, args=["keys", "rotate"])
    assert "re-wrapped 0 data keys" in again.output


def test_rotate_data_keys_reseals_every_secret_under_new_data_keys(make_app, kms_key, tenant, other_tenant):
    app = make_app(KMS_KEY=kms_key)
    seeded, app_secret = _seed(app, tenant)
    with app.app_context():
        create_integration(other_tenant.id, connector="stripe", name="theirs", credentials={"api_key": "rk_theirs"})
        old_keys = set(db.session.execute(sa.select(DataKey.id)).scalars())

    result = app.test_cli_runner().invoke(main, args=["keys", "rotate", "--data-keys", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert "made 3 data keys and re-sealed 5 records" in result.output  # the hub's key and two tenants'; 4 rows and the app secret
    with app.app_context():
        in_use = set(db.session.execute(sa.select(Integration.key_id)).scalars()) | {db.session.get(ConnectorApp, "slack").key_id}
        assert in_use.isdisjoint(old_keys) and len(in_use) == 3
    _assert_readable(make_app(KMS_KEY=kms_key), tenant, seeded, app_secret)


def test_rows_sealed_under_encryption_key_move_to_data_keys_and_the_ring_can_go(make_app, kms_key, tenant):
    app = make_app(KMS_KEY=kms_key)
    with app.app_context():
        integration_id, secret = seal_legacy_integration(tenant.id, {"api_key": "rk_0"})
        app_secret = seal_legacy_connector_app("slack")
        verify_keys_at_start(current_hub().envelope)
        assert legacy_rows() == 1

    result = app.test_cli_runner().invoke(main, args=["keys", "rotate", "--data-keys"])

    assert result.exit_code == 0, result.output
    without_ring = make_app(KMS_KEY=kms_key, ENCRYPTION_KEY=None)
    with without_ring.app_context():
        verify_keys_at_start(current_hub().envelope)
        assert legacy_rows() == 0
    _assert_readable(without_ring, tenant, [(integration_id, secret)], app_secret)


def test_an_interrupted_data_key_rotation_resumes_with_the_key_it_made(make_app, kms_key, tenant):
    app = make_app(KMS_KEY=kms_key)
    seeded, app_secret = _seed(app, tenant, count=2)
    with app.app_context():
        # A run that made the tenant's new key and stopped before moving any row.
        new_key_id, _ = current_hub().envelope.create_data_key(tenant.id)
        db.session.commit()
        report = rotate_data_keys(current_hub().envelope)
        assert report.resealed == 3 and report.new_data_keys == 1, "the hub's own key is new; the tenant's is the one made before"
        assert set(db.session.execute(sa.select(Integration.key_id)).scalars()) == {new_key_id}
    _assert_readable(make_app(KMS_KEY=kms_key), tenant, seeded, app_secret)


@pytest.mark.parametrize("kms_key", ["local"], indirect=True)
def test_a_data_key_rotation_beside_concurrent_writers_loses_no_write(make_app, kms_key, tenant):
    """Token refreshes during the rotation: every row ends readable with the last credentials written to it."""
    app = make_app(KMS_KEY=kms_key)
    seeded, _ = _seed(app, tenant, count=6)
    written: dict[str, dict] = {}
    errors: list[BaseException] = []

    def rotate():
        try:
            with app.app_context():
                for _ in range(3):
                    rotate_data_keys(current_hub().envelope, batch_size=1)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    rotation = threading.Thread(target=rotate)
    rotation.start()
    with app.app_context():
        for round_number in range(4):
            for integration_id, _secret in seeded:
                credentials = {"api_key": f"rk_{integration_id}_{round_number}"}
                try:
                    update_integration_credentials(tenant.id, integration_id, credentials)
                except Exception:
                    db.session.rollback()
                    continue  # the rotation won this row's version: the refresh would retry
                written[integration_id] = credentials
    rotation.join()
    assert not errors
    with make_app(KMS_KEY=kms_key).app_context():
        for integration_id, webhook_secret in seeded:
            integration, credentials = get_integration_with_credentials(tenant.id, integration_id)
            assert credentials == written.get(integration_id, credentials)
            assert webhook_secret_of(integration) == webhook_secret


def test_keys_generate_prints_a_usable_local_master_key(app):
    result = app.test_cli_runner().invoke(main, args=["keys", "generate"])
    assert result.exit_code == 0
    from hub.storage.key_providers import LocalKeyProvider

    assert LocalKeyProvider(result.output.strip()).current_master_key_id().startswith("local-")


@pytest.mark.parametrize("batch_size", ["0", "-1", "lots"])
def test_a_bad_batch_size_is_refused_and_nothing_moves(make_app, tenant, batch_size):
    app = make_app()
    _seed(app, tenant, count=1)
    with app.app_context():
        before = _rows()

    result = app.test_cli_runner().invoke(main, args=["keys", "rotate", "--data-keys", "--batch-size", batch_size])

    assert result.exit_code == 2 and "batch-size" in result.output
    with app.app_context():
        assert _rows() == before
