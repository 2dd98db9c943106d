"""Key providers for tests: `local`, and `aws-kms` against a real KMS endpoint over HTTP on 127.0.0.1.

The fake KMS is moto in server mode (a threaded Werkzeug server), reached by
boto3 exactly as AWS KMS would be; each test gets its own server, so one
test can stop it to play an outage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import secrets

import pytest

from hub.storage.key_providers import generate_local_master_key


@dataclass
class FakeKms:
    server: Any
    url: str
    client: Any

    def new_key(self) -> str:
        return self.client.create_key()["KeyMetadata"]["KeyId"]

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def fake_kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKms]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    kms = FakeKms(server, url, boto3.client("kms", region_name="us-east-1", endpoint_url=url))
    yield kms
    try:
        server.stop()
    except Exception:
        pass  # stopped by the test already


@pytest.fixture(params=["local", "aws-kms"])
def kms_key(request: pytest.FixtureRequest) -> str:
    """A KMS_KEY for each provider; the same suite runs on both."""
    if request.param == "local":
        return generate_local_master_key()
    kms = request.getfixturevalue("fake_kms")
    alias = f"alias/hub-test-{secrets.token_hex(4)}"  # moto keeps one state per process, shared by its servers
    kms.client.create_alias(AliasName=alias, TargetKeyId=kms.new_key())
    return f"aws-kms:{alias}"
