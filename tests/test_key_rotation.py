"""`hub keys rotate`: every secret re-encrypted under the newest key, still readable."""

from __future__ import annotations

import sqlalchemy as sa

from hub.cli import main
from hub.runtime import current_hub
from hub.storage.crypto import generate_key_entry
from hub.storage.key_rotation import rotate_keys
from hub.storage.models import ConnectorApp, Integration, db
from hub.tenancy.connector_apps import app_webhook_secret
from hub.tenancy.integrations import create_integration, get_integration_with_credentials, webhook_secret_of
from hub.testing import TEST_ENCRYPTION_KEY


def _seed(app, tenant, count=3):
    with app.app_context():
        ids = []
        for n in range(count):
            row = create_integration(tenant.id, connector="stripe", name=f"acct {n}", credentials={"api_key": f"rk_{n}"})
            ids.append((row.id, webhook_secret_of(row)))
        app_secret = app_webhook_secret("slack")
        return ids, app_secret


def test_rotation_keeps_every_credential_readable(make_app, tenant):
    old_app = make_app()
    seeded, app_secret = _seed(old_app, tenant)
    new_entry = generate_key_entry()
    new_app = make_app(ENCRYPTION_KEY=f"{new_entry},{TEST_ENCRYPTION_KEY}")
    new_key_id = new_entry.split(":")[0]

    result = new_app.test_cli_runner().invoke(main, args=["keys", "rotate"])

    assert result.exit_code == 0, result.output
    assert f"re-encrypted 4 records under key {new_key_id}" in result.output
    with new_app.app_context():
        assert set(db.session.execute(sa.select(Integration.key_id)).scalars()) == {new_key_id}
        assert db.session.get(ConnectorApp, "slack").key_id == new_key_id
        for n, (integration_id, webhook_secret) in enumerate(seeded):
            integration, credentials = get_integration_with_credentials(tenant.id, integration_id)
            assert credentials == {"api_key": f"rk_{n}"}
            assert webhook_secret_of(integration) == webhook_secret
        assert app_webhook_secret("slack") == app_secret
    only_new_app = make_app(ENCRYPTION_KEY=new_entry)
    with only_new_app.app_context():
        assert get_integration_with_credentials(tenant.id, seeded[0][0])[1] == {"api_key": "rk_0"}, "the old key can be dropped after rotation"


def test_rotation_is_idempotent(make_app, tenant):
    app = make_app()
    _seed(app, tenant, count=1)
    with app.app_context():
        assert rotate_keys(current_hub().keyring).rotated == 0


def test_keys_generate_prints_a_usable_entry(app):
    from hub.storage.crypto import KeyRing

    result = app.test_cli_runner().invoke(main, args=["keys", "generate"])
    assert result.exit_code == 0
    assert KeyRing.from_setting(result.output.strip()).current_key_id == result.output.split(":")[0]


def test_a_credential_update_under_the_new_key_moves_the_whole_row(make_app, tenant):
    """A token refresh or PATCH between adding a key and rotating must not strand the webhook secret."""
    old_app = make_app()
    [(integration_id, webhook_secret)], _ = _seed(old_app, tenant, count=1)
    new_entry = generate_key_entry()
    new_app = make_app(ENCRYPTION_KEY=f"{new_entry},{TEST_ENCRYPTION_KEY}")
    with new_app.app_context():
        from hub.tenancy.integrations import update_integration_credentials

        update_integration_credentials(tenant.id, integration_id, {"api_key": "rk_rolled"})
        rotate_keys(current_hub().keyring)
    only_new_app = make_app(ENCRYPTION_KEY=new_entry)
    with only_new_app.app_context():
        integration, credentials = get_integration_with_credentials(tenant.id, integration_id)
        assert credentials == {"api_key": "rk_rolled"}
        assert webhook_secret_of(integration) == webhook_secret
    response = only_new_app.test_client().get(f"/api/integrations/{integration_id}", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json["webhook_url"].endswith(webhook_secret)
