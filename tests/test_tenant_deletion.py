"""`hub tenants delete`: crypto-shredding. Once a tenant's data keys are destroyed its ciphertexts never open again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.cli import main
from hub.errors import DecryptionFailed
from hub.runtime import current_hub
from hub.storage.crypto import integration_context
from hub.storage.models import ApiKey, DataKey, Integration, Tenant, db
from hub.tenancy.integrations import create_integration, get_integration_with_credentials, webhook_secret_of
from tests.support.legacy_rows import seal_legacy_integration


def seed(app, tenant):
    with app.app_context():
        row = create_integration(tenant.id, connector="stripe", name="main", credentials={"api_key": "rk_test_doomed"})
        legacy_id, _ = seal_legacy_integration(tenant.id, {"api_key": "rk_test_old"}, name="old")
        return row.id, f"/api/webhooks/stripe/{webhook_secret_of(row)}", legacy_id


def raw_rows(tenant_id):
    return db.session.execute(
        sa.select(Integration.id, Integration.credentials_ciphertext, Integration.webhook_secret_ciphertext, Integration.deleted_at)
        .where(Integration.tenant_id == tenant_id)
    ).all()


def test_deleting_a_tenant_shreds_its_secrets(make_app, kms_key, tenant, other_tenant):
    app = make_app(KMS_KEY=kms_key)
    integration_id, webhook_path, legacy_id = seed(app, tenant)
    with app.app_context():
        theirs = create_integration(other_tenant.id, connector="stripe", name="theirs", credentials={"api_key": "rk_theirs"}).id

    result = app.test_cli_runner().invoke(main, args=["tenants", "delete", tenant.id, "--yes"])

    assert result.exit_code == 0, result.output
    assert "2 integrations deleted, 1 API keys revoked, 1 data keys destroyed" in result.output
    for process in (app, make_app(KMS_KEY=kms_key)):  # the deleting process (its cache evicted) and a fresh one
        with process.app_context():
            envelope = current_hub().envelope
            [data_key] = db.session.execute(sa.select(DataKey).where(DataKey.tenant_id == tenant.id)).scalars().all()
            assert data_key.destroyed_at is not None and data_key.wrapped_key is None
            rows = raw_rows(tenant.id)
            assert len(rows) == 2 and all(row.deleted_at is not None for row in rows)
            for row in rows:
                for field, token in (("credentials", row.credentials_ciphertext), ("webhook_secret", row.webhook_secret_ciphertext)):
                    with pytest.raises(DecryptionFailed):
                        envelope.open(tenant.id, integration_context(tenant.id, row.id, field), token)
            assert get_integration_with_credentials(other_tenant.id, theirs)[1] == {"api_key": "rk_theirs"}
            assert db.session.get(Tenant, tenant.id).deleted_at is not None
            assert db.session.execute(sa.select(ApiKey.revoked_at).where(ApiKey.tenant_id == tenant.id)).scalar_one() is not None
    client = app.test_client()
    assert client.post(webhook_path, data=b"{}", headers={"Content-Type": "application/json"}).status_code == 410
    assert client.get("/api/integrations", headers=tenant.headers).status_code == 401
    assert client.get("/api/integrations", headers=other_tenant.headers).status_code == 200
    assert "rk_test" not in result.output


def test_a_deleted_tenant_gets_no_new_key_or_data_key(make_app, tenant):
    app = make_app()
    seed(app, tenant)
    runner = app.test_cli_runner()
    assert runner.invoke(main, args=["tenants", "delete", tenant.id, "--yes"]).exit_code == 0

    again = runner.invoke(main, args=["tenants", "delete", tenant.id, "--yes"])
    assert again.exit_code == 0 and "0 data keys destroyed" in again.output
    refused = runner.invoke(main, args=["tenants", "keys", "create", tenant.id])
    assert refused.exit_code != 0 and "api_key" not in refused.output
    with app.app_context():
        from hub.errors import Gone

        with pytest.raises(Gone):
            current_hub().envelope.create_data_key(tenant.id)


def test_deleting_asks_first_and_refuses_an_unknown_tenant(make_app, tenant):
    app = make_app()
    integration_id, _path, _legacy = seed(app, tenant)
    runner = app.test_cli_runner()

    declined = runner.invoke(main, args=["tenants", "delete", tenant.id], input="n\n")
    unknown = runner.invoke(main, args=["tenants", "delete", "no-such-tenant", "--yes"])

    assert declined.exit_code != 0
    assert unknown.exit_code != 0 and "no such tenant" in unknown.output
    with app.app_context():
        assert get_integration_with_credentials(tenant.id, integration_id)[1] == {"api_key": "rk_test_doomed"}
