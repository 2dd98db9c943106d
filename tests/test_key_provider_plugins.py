"""A key provider from another distribution, found through the `hub.key_providers` entry point group.

The test installs a real (if tiny) distribution on sys.path: a dist-info
folder with its entry point, and the module it names.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest
import sqlalchemy as sa

from hub.errors import ConfigurationError
from hub.storage.key_providers import generate_local_master_key
from hub.storage.models import DataKey, db
from hub.tenancy.integrations import create_integration, get_integration_with_credentials

PROVIDER_MODULE = '''
from hub.storage.key_providers import KeyProvider, LocalKeyProvider


class ToyProvider(LocalKeyProvider):
    """A provider plugin: here the local one under another name, as a Vault or Key Vault plugin would be shaped."""

    name = "toy"


class NotAProvider:
    def __init__(self, spec, settings):
        pass
'''


@pytest.fixture
def toy_distribution(tmp_path, monkeypatch):
    (tmp_path / "toy_keys.py").write_text(PROVIDER_MODULE)
    info = tmp_path / "toy_keys-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-keys\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""
        [hub.key_providers]
        toy = toy_keys:ToyProvider
        broken = toy_keys:NotAProvider
        missing = toy_keys_gone:Nothing
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield
    sys.modules.pop("toy_keys", None)


def test_an_installed_provider_is_chosen_by_its_name(make_app, toy_distribution, tenant):
    app = make_app(KMS_KEY=f"toy:{generate_local_master_key()}")
    with app.app_context():
        integration_id = create_integration(tenant.id, connector="stripe", name="a", credentials={"api_key": "rk_a"}).id
        assert db.session.execute(sa.select(DataKey.provider).where(DataKey.tenant_id == tenant.id)).scalar_one() == "toy"
        assert get_integration_with_credentials(tenant.id, integration_id)[1] == {"api_key": "rk_a"}


@pytest.mark.parametrize(("name", "named"), [("broken", "does not implement"), ("missing", "failed to load")])
def test_a_provider_that_is_not_one_is_refused_by_name(make_app, toy_distribution, name, named):
    with pytest.raises(ConfigurationError) as refused:
        make_app(KMS_KEY=f"{name}:anything")
    assert name in str(refused.value) and named in str(refused.value)
