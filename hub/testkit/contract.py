"""The connector conformance suite: what every connector must do, as tests a connector's test module inherits.

A connector's tests subclass `ConnectorContract` (the subclass's name starts
with `Test`, so pytest collects it), name the connector, give a few sample
deliveries and say how the provider signs them:

    class TestAcmeContract(ConnectorContract):
        connector = "acme"
        distribution = "hub-acme"
        package_dir = Path(__file__).resolve().parents[1]

        def samples(self):
            return [SampleDelivery(body=b'{"id": "evt_1", "type": "thing.created"}')]

        def sign(self, body, *, secret, now):
            return {"acme-signature": SIGNATURE.sign(secret, body, timestamp=int(now)),
                    "acme-timestamp": str(int(now))}

It then checks, against the installed connector through the same plugin
host the hub uses: the `supports_*` flags match the hooks; a signed sample
verifies and normalizes to storable events whose ids do not change on
redelivery; unsigned, tampered, forged, stale and empty-secret deliveries
are refused; garbage bodies raise `ValueError`; no secret reaches an error
message or a log line; sync (when a fake API is given) completes, and keeps
its cursor when rate limited; and the package installs alone.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hub.plugins import PluginHost
from hub.testkit.plugin_install import assert_installs_alone
from hub.testkit.sync_pages import sync_page, sync_until_done
from hub.types import WebhookRequest

STALE_SECONDS = 3600.0
HOOKS_OF_FLAGS = (("supports_sync", "sync"), ("supports_revoke", "revoke"), ("supports_health_check", "check_health"))


@dataclass(frozen=True)
class SampleDelivery:
    """A webhook delivery as the provider sends it, before signing: body, unsigned headers, content type."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class ConnectorContract:
    """Conformance tests for one connector; subclass it in the connector's tests (see the module's docstring).

    Class attributes:
    connector: the connector id; distribution, package_dir: the package, for the install test.
    secret: the signing secret the samples are signed with.
    secret_setting / secret_credential: where the hub finds the secret: a
    setting (app-level URL) or a credential of the integration (its own URL).
    signs_timestamp: False for providers that sign no timestamp (GitHub): the
    stale-delivery check is then left out, and dedupe on the delivery's id is the replay defence.
    stale_seconds: how old (or how far ahead) a signature must be refused.
    signs_body: False for a sender whose token authenticates the sender but not
    the body (Pub/Sub push): the tampered-body check is then left out.
    settings: further connector settings for the plugin host (`host_settings()` for computed ones).
    garbage_bodies: signed bodies that `normalize` must refuse with ValueError.
    """

    connector: ClassVar[str]
    distribution: ClassVar[str | None] = None
    package_dir: ClassVar[Path | None] = None
    secret: ClassVar[str] = "contract-signing-secret-8c1f0a7e"
    secret_setting: ClassVar[str | None] = None
    secret_credential: ClassVar[str | None] = "webhook_secret"
    signs_timestamp: ClassVar[bool] = True
    stale_seconds: ClassVar[float] = STALE_SECONDS
    signs_body: ClassVar[bool] = True
    settings: ClassVar[Mapping[str, str]] = {}
    garbage_bodies: ClassVar[tuple[bytes, ...]] = (b"", b"not json", b"[1, 2]", b'{"unterminated', b"\xff\xfe\x00", b'{"n": NaN}')

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Leave out the checks that cannot apply to this connector, so none of them shows as skipped.

        A skipped check reads as "not done yet"; a check the provider's own
        scheme rules out (no signed timestamp, no signed body, no sync, no
        package to install) is simply not part of this connector's contract.
        """
        super().__init_subclass__(**kwargs)
        missing = [name for name in ("samples", "sign") if not callable(getattr(cls, name, None))]
        if missing:
            raise TypeError(f"{cls.__name__} must define {' and '.join(missing)}() to run the connector contract")
        left_out = {
            "test_a_tampered_delivery_is_refused": not cls.signs_body,
            "test_a_stale_or_future_delivery_is_refused": not cls.signs_timestamp,
            "test_sync_completes": cls.sync_api is ConnectorContract.sync_api,
            "test_sync_keeps_its_cursor_when_rate_limited": cls.sync_api is ConnectorContract.sync_api,
            "test_the_package_installs_alone": cls.package_dir is None or cls.distribution is None,
        }
        for name, absent in left_out.items():
            if absent:
                setattr(cls, name, None)

    # what a subclass gives ------------------------------------------------
    # samples(self) -> list[SampleDelivery]: deliveries the connector turns into at least one event each.
    # sign(self, body, *, secret, now) -> Mapping[str, str]: the headers the provider adds to `body`
    #   to sign it with `secret` at time `now`.
    # Both are required: a subclass without them is refused when it is defined.
    samples: Callable[[], list[SampleDelivery]]
    sign: Callable[..., Mapping[str, str]]

    def sync_api(self) -> AbstractContextManager[Any] | None:
        """A context manager serving a fake of the provider's API with records to sync (a `FakeProviderAPI`'s
        `serve()`), yielding the fake; None when the connector does not sync."""
        return None

    def sync_settings(self, fake: Any) -> Mapping[str, str]:
        """Settings that point the connector at the running fake (`ACME_API_BASE_URL=fake.base_url`)."""
        return {}

    def sync_credentials(self, fake: Any) -> Mapping[str, Any]:
        """Credentials the fake accepts."""
        return {"access_token": "test-access-token"}

    def rate_limit(self, fake: Any) -> None:
        """Make the fake answer the next calls with the provider's rate limit."""
        fake.rate_limit(30)

    def lift_rate_limit(self, fake: Any) -> None:
        fake.lift_rate_limit()

    def host_settings(self) -> Mapping[str, str]:
        """Connector settings for every plugin host of the suite (the class's `settings` unless overridden)."""
        return self.settings

    def secrets(self) -> list[str]:
        """Values that must never appear in an error message or a log line."""
        return [self.secret]

    # helpers ----------------------------------------------------------------

    def host(self, *, secret: str | None = None, **settings: str) -> PluginHost:
        """A plugin host with every installed connector and only these settings; the signing secret where the connector reads it."""
        configured = {**self.host_settings(), **settings}
        if self.secret_setting:
            configured[self.secret_setting] = self.secret if secret is None else secret
        host = PluginHost(configured, environ={}).load()
        assert self.connector in host.connectors, host.broken
        return host

    def credentials(self, *, secret: str | None = None) -> dict[str, Any] | None:
        if self.secret_credential is None:
            return None
        return {self.secret_credential: self.secret if secret is None else secret}

    def request(self, delivery: SampleDelivery, *, secret: str | None = None, now: float, body: bytes | None = None, signed: bool = True) -> WebhookRequest:
        """The delivery as the hub hands it to the hooks, signed over its own body (then `body`, when given, replaces it)."""
        headers = {name.lower(): value for name, value in delivery.headers.items()}
        if signed:
            signature = self.sign(delivery.body, secret=self.secret if secret is None else secret, now=now)
            headers.update({name.lower(): value for name, value in signature.items()})
        return WebhookRequest(headers=headers, body=delivery.body if body is None else body, content_type=delivery.content_type)

    def verifies(self, host: PluginHost, request: WebhookRequest, *, now: float, secret: str | None = None) -> bool:
        return host.verify_signature(self.connector, request=request, credentials=self.credentials(secret=secret), now=now)

    @pytest.fixture
    def now(self) -> float:
        return float(int(time.time()))

    @pytest.fixture
    def contract_host(self) -> PluginHost:
        return self.host()

    # the contract -----------------------------------------------------------

    def test_the_connector_loads_and_describes_itself(self, contract_host: PluginHost) -> None:
        described = contract_host.describe(self.connector)
        assert [broken for broken in contract_host.broken if broken.name == self.connector] == []
        assert described["display_name"]
        if self.distribution is not None:
            assert described["distribution"] == self.distribution

    def test_supports_flags_match_the_hooks(self, contract_host: PluginHost) -> None:
        """A flag without its hook would be dropped from `GET /api/connectors` without a word; a hook without its flag is never called."""
        info = contract_host.info(self.connector)
        for flag, hook in HOOKS_OF_FLAGS:
            assert getattr(info, flag) == contract_host.has_hook(self.connector, hook), f"{flag} does not match the {hook} hook"
        if info.webhook_routing != "none":
            assert contract_host.has_hook(self.connector, "verify_signature") and contract_host.has_hook(self.connector, "normalize")
        if info.auth_kind == "oauth2":
            assert contract_host.has_hook(self.connector, "oauth_config")
        if info.auth_kind == "api_key":
            assert set(info.required_credentials) <= set(info.credential_fields)

    def test_signed_samples_verify_and_normalize_to_storable_events(self, contract_host: PluginHost, now: float) -> None:
        for delivery in self.samples():
            request = self.request(delivery, now=now)
            assert self.verifies(contract_host, request, now=now), delivery
            events = contract_host.normalize(self.connector, request=request)
            assert events, f"the sample normalized to no event: {delivery}"
            for event in events:
                assert isinstance(event.id, str) and 1 <= len(event.id) <= 255
                assert isinstance(event.type, str) and event.type
                json.dumps(event.data, allow_nan=False)

    def test_event_ids_are_stable_across_redelivery(self, contract_host: PluginHost, now: float) -> None:
        """A provider redelivers with a new signature and time; the ids must not change, or dedupe fails."""
        for delivery in self.samples():
            first = contract_host.normalize(self.connector, request=self.request(delivery, now=now))
            again = contract_host.normalize(self.connector, request=self.request(delivery, now=now + 60))
            assert [(event.id, event.type) for event in first] == [(event.id, event.type) for event in again]

    def test_an_unsigned_delivery_is_refused(self, contract_host: PluginHost, now: float) -> None:
        for delivery in self.samples():
            assert not self.verifies(contract_host, self.request(delivery, now=now, signed=False), now=now)

    def test_a_tampered_delivery_is_refused(self, contract_host: PluginHost, now: float) -> None:
        for delivery in self.samples():
            for body in (delivery.body + b" ", delivery.body[:-1], b"x" + delivery.body):
                assert not self.verifies(contract_host, self.request(delivery, now=now, body=body), now=now)

    def test_a_delivery_signed_with_another_secret_is_refused(self, contract_host: PluginHost, now: float) -> None:
        forger = self.secret[:-4] + ("AAAA" if not self.secret.endswith("AAAA") else "BBBB")
        for delivery in self.samples():
            assert not self.verifies(contract_host, self.request(delivery, now=now, secret=forger), now=now)

    def test_a_stale_or_future_delivery_is_refused(self, contract_host: PluginHost, now: float) -> None:
        for delivery in self.samples():
            assert not self.verifies(contract_host, self.request(delivery, now=now - self.stale_seconds), now=now)
            assert not self.verifies(contract_host, self.request(delivery, now=now + self.stale_seconds), now=now)

    def test_an_empty_secret_verifies_nothing(self, now: float) -> None:
        """An unset secret must not turn into "every signature is valid", nor into an exception."""
        host = self.host(secret="")
        for delivery in self.samples():
            assert not self.verifies(host, self.request(delivery, now=now), now=now, secret="")
            try:
                signed_with_nothing = self.request(delivery, now=now, secret="")
            except Exception:  # most signers refuse an empty key themselves, each with its own exception
                continue
            assert not self.verifies(host, signed_with_nothing, now=now, secret="")

    def test_garbage_bodies_raise_value_error(self, contract_host: PluginHost, now: float) -> None:
        """The hub answers ValueError with a 400 that quotes the message: anything else is a 500 and a retry storm."""
        delivery = self.samples()[0]
        for body in self.garbage_bodies:
            garbage = SampleDelivery(body=body, headers=delivery.headers, content_type=delivery.content_type)
            with pytest.raises(ValueError):
                contract_host.normalize(self.connector, request=self.request(garbage, now=now))

    def test_no_secret_reaches_an_error_or_a_log_line(self, contract_host: PluginHost, now: float, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        said: list[str] = []
        delivery = self.samples()[0]
        self.verifies(contract_host, self.request(delivery, now=now, body=delivery.body + b" "), now=now)
        self.verifies(contract_host, self.request(delivery, now=now - self.stale_seconds), now=now)
        for body in self.garbage_bodies:
            garbage = SampleDelivery(body=body, headers=delivery.headers, content_type=delivery.content_type)
            try:
                contract_host.normalize(self.connector, request=self.request(garbage, now=now))
            except Exception as error:  # every message counts, whatever the type
                said.append(f"{type(error).__name__}: {error!r} {error}")
        for secret in self.secrets():
            assert secret not in caplog.text
            assert not [message for message in said if secret in message]

    # sync ------------------------------------------------------------------

    @pytest.fixture
    def sync_fake(self, contract_host: PluginHost) -> Iterator[Any]:
        if not contract_host.info(self.connector).supports_sync:
            pytest.fail("sync_api serves a fake API, but the connector does not advertise supports_sync")
        served = self.sync_api()
        if served is None:
            pytest.fail("sync_api returned no fake API to sync from")
        with served as fake:
            yield fake

    def test_sync_completes(self, sync_fake: Any) -> None:
        host = self.host(**self.sync_settings(sync_fake))
        ids, _ = sync_until_done(host, self.connector, self.sync_credentials(sync_fake))
        assert ids, "the fake API holds records to sync"
        assert len(ids) == len(set(ids))

    def test_sync_keeps_its_cursor_when_rate_limited(self, sync_fake: Any) -> None:
        host = self.host(**self.sync_settings(sync_fake))
        credentials = self.sync_credentials(sync_fake)
        first = sync_page(host, self.connector, credentials)
        self.rate_limit(sync_fake)
        limited = sync_page(host, self.connector, credentials, first.cursor)
        assert limited.records == [] and limited.cursor == first.cursor
        assert limited.retry_after is not None and 0 < limited.retry_after <= 86400
        self.lift_rate_limit(sync_fake)
        resumed = sync_page(host, self.connector, credentials, limited.cursor)
        assert resumed.retry_after is None

    # packaging ----------------------------------------------------------------

    @pytest.mark.installs_packages
    def test_the_package_installs_alone(self, tmp_path: Path) -> None:
        assert_installs_alone(self.package_dir, tmp_path, connector=self.connector, distribution=self.distribution)
