"""ENCRYPTION_KEY is checked against what it sealed at start and by /readyz, on both databases.

Values sealed before data keys (`v1.`) open under the ring until `hub keys
rotate --data-keys` moves them. The dangerous ring is one that loads fine:
the right key id with other key material, or a new ring without the key the
data was sealed under.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.cli import main
from hub.errors import ConfigurationError
from hub.storage.crypto import generate_key_entry
from hub.storage.key_check import KeysDoNotOpenStoredData, verify_keys_at_start
from hub.storage.models import KeyCheck, db
from hub.tenancy.integrations import get_integration_with_credentials
from hub.testing import TEST_ENCRYPTION_KEY, TEST_KMS_KEY, base_config, clean_environ
from tests.support.legacy_rows import seal_legacy_integration

HUB = str(Path(sys.executable).parent / "hub")
KEY_ID = TEST_ENCRYPTION_KEY.split(":")[0]
# The same key id as the test ring, with other key material: loads fine, opens nothing.
SAME_ID_OTHER_KEY = f"{KEY_ID}:{generate_key_entry().split(':')[1]}"
OTHER_RING = generate_key_entry()


def seal_an_integration(app, tenant):
    with app.app_context():
        return seal_legacy_integration(tenant.id, {"api_key": "rk_test_sealed"})[0]


def start_check(app):
    with app.app_context():
        verify_keys_at_start(app.extensions["hub"].envelope)


def recorded_key_ids(app):
    with app.app_context():
        return set(db.session.execute(sa.select(KeyCheck.key_id)).scalars())


def readiness(app):
    response = app.test_client().get("/readyz")
    return response.status_code, response.json["checks"]["keys"]


def test_the_right_key_starts_records_itself_and_is_ready(app, tenant):
    seal_an_integration(app, tenant)
    start_check(app)
    assert recorded_key_ids(app) == {KEY_ID}
    start_check(app)  # again: nothing changes
    assert readiness(app) == (200, "ok")


@pytest.mark.parametrize("wrong_ring", [SAME_ID_OTHER_KEY, OTHER_RING], ids=["same-id-other-key", "ring-without-the-key"])
def test_a_key_that_does_not_open_stored_data_is_refused_at_start_and_not_ready(make_app, tenant, wrong_ring):
    right = make_app()
    seal_an_integration(right, tenant)
    start_check(right)
    wrong = make_app(ENCRYPTION_KEY=wrong_ring)

    with pytest.raises(KeysDoNotOpenStoredData) as refused:
        start_check(wrong)

    assert KEY_ID in str(refused.value)
    assert wrong_ring.split(":")[1] not in str(refused.value)
    assert readiness(wrong) == (503, "failed")
    assert recorded_key_ids(right) == {KEY_ID}, "a refused ring records nothing"
    assert readiness(right) == (200, "ok")


@pytest.mark.parametrize("wrong_ring", [SAME_ID_OTHER_KEY, OTHER_RING], ids=["same-id-other-key", "ring-without-the-key"])
def test_data_sealed_before_any_key_check_is_proved_by_opening_it(make_app, tenant, wrong_ring):
    seal_an_integration(make_app(), tenant)  # no process checked the keys yet: no record
    wrong = make_app(ENCRYPTION_KEY=wrong_ring)

    with pytest.raises(KeysDoNotOpenStoredData):
        start_check(wrong)
    assert recorded_key_ids(wrong) == set()

    right = make_app()
    start_check(right)
    assert recorded_key_ids(right) == {KEY_ID}


def test_one_unreadable_row_does_not_condemn_a_right_key(make_app, tenant):
    app = make_app()
    broken = seal_an_integration(app, tenant)
    seal_an_integration(app, tenant)
    with app.app_context():
        from hub.storage.models import Integration

        row = db.session.get(Integration, broken)
        row.credentials_ciphertext = row.credentials_ciphertext[:-8] + "AAAAAAAA"
        db.session.commit()
    start_check(app)
    assert recorded_key_ids(app) == {KEY_ID}


def test_moving_to_data_keys_retires_the_ring(make_app, tenant):
    old = make_app()
    integration_id = seal_an_integration(old, tenant)
    start_check(old)

    assert old.test_cli_runner().invoke(main, args=["keys", "rotate", "--data-keys"]).exit_code == 0

    assert recorded_key_ids(old) == set()
    without_ring = make_app(ENCRYPTION_KEY=None)
    start_check(without_ring)
    assert readiness(without_ring) == (200, "ok")
    with without_ring.app_context():
        assert get_integration_with_credentials(tenant.id, integration_id)[1] == {"api_key": "rk_test_sealed"}
    assert readiness(old) == (200, "ok")


def test_a_ring_without_the_key_of_new_data_is_harmless_once_nothing_is_sealed_under_it(make_app, tenant):
    """Nothing new is sealed under the ring: a process with another ring records nothing and stays ready."""
    first = make_app()
    start_check(first)
    other = make_app(ENCRYPTION_KEY=OTHER_RING)
    start_check(other)
    assert recorded_key_ids(other) == set()
    assert readiness(other) == (200, "ok")


def test_an_unmigrated_database_is_named_at_start(make_app, tmp_path):
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with pytest.raises(ConfigurationError) as refused:
        start_check(app)
    assert "hub db upgrade" in str(refused.value)


def test_a_database_down_at_start_only_warns(make_app, caplog):
    app = make_app(DATABASE_URL="postgresql://127.0.0.1:1/none")
    start_check(app)
    assert "keys not checked at start" in caplog.text
    assert readiness(app) == (503, "unavailable")


def _cli(database_url, tmp_path, encryption_key, *args):
    settings = base_config(database_url, str(tmp_path / "instance"))
    env = clean_environ() | {
        "DATABASE_URL": database_url, "SECRET_KEY": settings["SECRET_KEY"], "ENCRYPTION_KEY": encryption_key, "KMS_KEY": TEST_KMS_KEY,
        "HUB_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    return subprocess.run([HUB, *args], env=env, capture_output=True, text=True, timeout=120)


def test_hub_worker_and_serve_refuse_a_wrong_key_but_migrations_run(app, tenant, database_url, tmp_path):
    seal_an_integration(app, tenant)
    start_check(app)

    worker = _cli(database_url, tmp_path, SAME_ID_OTHER_KEY, "worker", "--drain")
    serve = _cli(database_url, tmp_path, OTHER_RING, "serve", "--port", "1")
    upgrade = _cli(database_url, tmp_path, OTHER_RING, "db", "upgrade")

    assert worker.returncode != 0 and KEY_ID in worker.stderr and "Traceback" not in worker.stderr
    assert serve.returncode != 0 and KEY_ID in serve.stderr and "hub serving" not in serve.stdout
    assert upgrade.returncode == 0, upgrade.stderr
    assert _cli(database_url, tmp_path, TEST_ENCRYPTION_KEY, "worker", "--drain").returncode == 0
