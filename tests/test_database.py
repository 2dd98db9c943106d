"""Migrations match the models on both databases; the service layer's guarantees."""

from __future__ import annotations

import secrets
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hub.errors import Conflict, NotFound
from hub.runtime import current_hub
from hub.storage.database import current_revision, head_revision
from hub.storage.models import db
from hub.tenancy.integrations import (
    create_integration,
    delete_integration,
    get_integration_by_id,
    get_integration_with_credentials,
    list_integrations,
    update_integration_credentials,
    update_integration_status,
)


def test_migrations_are_at_head_and_match_the_models(app):
    with app.app_context():
        assert current_revision() == head_revision()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            diff = compare_metadata(context, db.metadata)
        assert diff == []


@pytest.fixture
def scratch_database_url(database_url, tmp_path):
    """An empty database of the same kind as the test database, for migrations to run on from nothing."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    from hub.testing import RUN_ID, postgres_schema_url

    yield from postgres_schema_url(f"hub_scratch_{RUN_ID}_{secrets.token_hex(3)}")


def test_every_revision_downgrades_and_upgrades_again(scratch_database_url, tmp_path):
    from alembic import command
    from alembic.script import ScriptDirectory

    from hub.app import create_app
    from hub.storage.database import alembic_config, upgrade_database

    app = create_app({"DATABASE_URL": scratch_database_url, "HUB_INSTANCE_PATH": str(tmp_path / "instance"), "HUB_LOG_LEVEL": "WARNING"}, environ={})
    with app.app_context():
        upgrade_database()
        with db.engine.connect() as connection:
            scripts = list(ScriptDirectory.from_config(alembic_config(connection)).walk_revisions())
        for script in scripts:  # each revision's downgrade, then every upgrade from there to the head
            with db.engine.begin() as connection:
                command.downgrade(alembic_config(connection), script.down_revision or "base")
            with db.engine.begin() as connection:
                command.upgrade(alembic_config(connection), "head")
            assert current_revision() == head_revision(), script.revision
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": False}), db.metadata) == []
        db.engine.dispose()


def test_the_dedupe_revision_keeps_its_name(app):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from hub.storage.database import MIGRATIONS_PATH

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    assert ScriptDirectory.from_config(config).get_revision("0007_webhook_events_dedupe") is not None


def test_every_service_function_is_tenant_scoped(app, tenant, other_tenant):
    with app.app_context():
        row = create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "k"})
        for call in (
            lambda: get_integration_by_id(other_tenant.id, row.id),
            lambda: get_integration_with_credentials(other_tenant.id, row.id),
            lambda: update_integration_credentials(other_tenant.id, row.id, {"api_key": "x"}),
            lambda: update_integration_status(other_tenant.id, row.id, "disabled"),
            lambda: delete_integration(other_tenant.id, row.id),
        ):
            with pytest.raises(NotFound):
                call()
        assert list_integrations(other_tenant.id) == ([], None)
        assert get_integration_with_credentials(tenant.id, row.id)[1] == {"api_key": "k"}


def test_a_stale_credentials_write_is_refused(app, tenant):
    with app.app_context():
        row = create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "k1"})
        update_integration_credentials(tenant.id, row.id, {"api_key": "k2"}, expected_version=1)
        with pytest.raises(Conflict):
            update_integration_credentials(tenant.id, row.id, {"api_key": "k3"}, expected_version=1)
        assert get_integration_with_credentials(tenant.id, row.id)[1] == {"api_key": "k2"}


@pytest.fixture(params=["database", "redis"])
def lock_app(request, make_app):
    if request.param == "redis":
        return make_app(REDIS_URL=request.getfixturevalue("redis_url"))
    return make_app()


def test_a_lease_is_exclusive_until_released_or_expired(lock_app):
    with lock_app.app_context():
        token = current_hub().leases.acquire("refresh:one", ttl_seconds=30)
        assert token is not None
        assert current_hub().leases.acquire("refresh:one", ttl_seconds=30) is None
        current_hub().leases.release("refresh:one", "someone-else")
        assert current_hub().leases.acquire("refresh:one", ttl_seconds=30) is None, "only the holder releases"
        current_hub().leases.release("refresh:one", token)
        short = current_hub().leases.acquire("refresh:one", ttl_seconds=0.05)
        assert short is not None
        threading.Event().wait(0.1)
        assert current_hub().leases.acquire("refresh:one", ttl_seconds=30) is not None, "an expired lease can be taken over"


def test_concurrent_holders_never_overlap(lock_app):
    inside = []
    overlaps = []

    def worker():
        with lock_app.app_context():
            for _ in range(5):
                with current_hub().leases.hold("critical", ttl_seconds=10, wait_seconds=20, poll_seconds=0.005):
                    inside.append(1)
                    if len(inside) > 1:
                        overlaps.append(1)
                    threading.Event().wait(0.002)
                    inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []


def test_a_credentials_ciphertext_copied_to_another_row_does_not_open(app, tenant, other_tenant):
    import sqlalchemy as sa

    from hub.errors import DecryptionFailed
    from hub.storage.models import Integration
    from hub.tenancy.integrations import create_integration, get_integration_with_credentials

    with app.app_context():
        source = create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_live_victim"})
        same_tenant = create_integration(tenant.id, connector="stripe", name="b", credentials={"api_key": "rk_b"})
        foreign = create_integration(other_tenant.id, connector="stripe", name="c", credentials={"api_key": "rk_c"})
        stolen = source.credentials_ciphertext
        for target in (same_tenant, foreign):
            db.session.execute(sa.update(Integration).where(Integration.id == target.id).values(credentials_ciphertext=stolen))
        db.session.commit()
        for owner, target in ((tenant, same_tenant), (other_tenant, foreign)):
            with pytest.raises(DecryptionFailed):
                get_integration_with_credentials(owner.id, target.id)
    response = app.test_client().get(f"/api/integrations/{foreign.id}", headers=other_tenant.headers)
    assert "rk_live_victim" not in response.get_data(as_text=True)


def test_new_ids_are_time_ordered_uuid7():
    import time
    import uuid

    from hub.storage.models import new_id

    first = new_id()
    time.sleep(0.002)
    later = [new_id() for _ in range(100)]
    assert {uuid.UUID(value).version for value in [first, *later]} == {7}
    assert {uuid.UUID(value).variant for value in later} == {uuid.RFC_4122}
    assert all(first < value for value in later)
    assert len(set(later)) == 100
