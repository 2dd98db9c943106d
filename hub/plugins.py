"""Finding plugins and calling them: one typed method per hook.

Connectors come from the `hub.connectors` entry point group (the entry point
name is the connector id); other plugins from `hub.plugins` and from the
modules named in `HUB_PLUGINS`. Each plugin is registered and checked on its
own, so a plugin that fails to import, misspells a hook or declares a bad
signature is reported by name and the others still load.

pluggy calls every implementation of a hook; connector hooks are therefore
called through a per-connector subset caller that holds only that
connector's implementation.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from hub import hookspecs
from hub.config import connector_settings
from hub.errors import NotFound, PluginError
from hub.types import (
    AccountInfo,
    ConnectorInfo,
    HealthResult,
    NormalizedEvent,
    OAuthConfig,
    ProxyConfig,
    SyncResult,
    WebhookRequest,
    WebhookResponse,
)

log = logging.getLogger(__name__)

CONNECTOR_GROUP = "hub.connectors"
PLUGIN_GROUP = "hub.plugins"


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that did not load: why, and where (the plugin's own file:line and the traceback) when it raised."""

    name: str
    error: str
    where: str | None = None
    traceback: str | None = None


def _failure(exc: BaseException) -> tuple[str, str]:
    """Where an exception was raised, as `file:line` (a SyntaxError's own line), and its traceback."""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "unknown"
    return where, "".join(traceback.format_exception(exc))


@dataclass(frozen=True)
class Connector:
    id: str
    info: ConnectorInfo
    distribution: str | None
    hooks: frozenset[str]

    def supports(self, hook: str) -> bool:
        return hook in self.hooks


def _names(setting: str | Iterable[str] | None) -> list[str]:
    if not setting:
        return []
    parts = setting.split(",") if isinstance(setting, str) else list(setting)
    return [p.strip() for p in parts if p and p.strip()]


def checked_account(connector_id: str, account: Any) -> AccountInfo | None:
    """The connector's answer, refused unless it is an AccountInfo with an id the database can hold."""
    if account is None:
        return None
    if not isinstance(account, AccountInfo) or not isinstance(account.external_account_id, str):
        raise PluginError(f"connector {connector_id} must name an account with hub.types.AccountInfo")
    if not 1 <= len(account.external_account_id) <= 255:
        raise PluginError(f"connector {connector_id} named an account id of {len(account.external_account_id)} characters")
    return account



class PluginHost:
    """The hub's plugin manager; the only place that touches pluggy."""

    def __init__(self, config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.config: Mapping[str, Any] = config or {}
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.pm = pluggy.PluginManager("hub")
        self.pm.add_hookspecs(hookspecs)
        self.connectors: dict[str, Connector] = {}
        self.broken: list[BrokenPlugin] = []
        self._callers: dict[tuple[str, str], Any] = {}

    # loading ---------------------------------------------------------------

    def load(self) -> "PluginHost":
        disabled = set(_names(self.config.get("HUB_DISABLED_CONNECTORS")))
        for ep in entry_points(group=CONNECTOR_GROUP):
            if ep.name in disabled:
                log.info("connector %s is disabled by HUB_DISABLED_CONNECTORS", ep.name)
                continue
            if ep.name in self.connectors:
                self._report(ep.name, "another installed distribution already provides this connector id")
                continue
            distribution = ep.dist.name if ep.dist else None
            self._load_one(ep.name, ep.load, connector=True, distribution=distribution)
        for ep in entry_points(group=PLUGIN_GROUP):
            self._load_one(f"plugin:{ep.name}", ep.load, connector=False, distribution=ep.dist.name if ep.dist else None)
        for module in _names(self.config.get("HUB_PLUGINS")):
            self._load_one(f"module:{module}", lambda m=module: importlib.import_module(m), connector=False, distribution=None)
        return self

    def register_connector(self, connector_id: str, plugin: object) -> None:
        """Register an object as a connector (used by host apps and tests)."""
        self._load_one(connector_id, lambda: plugin, connector=True, distribution=None)

    def _report(self, name: str, error: str, exc: BaseException | None = None) -> None:
        where, trace = _failure(exc) if exc is not None else (None, None)
        log.error("plugin %s was not loaded: %s%s", name, error, f" ({where})" if where else "")
        self.broken.append(BrokenPlugin(name=name, error=error, where=where, traceback=trace))

    def _load_one(self, name: str, loader: Any, *, connector: bool, distribution: str | None) -> None:
        try:
            plugin = loader()
        except Exception as exc:  # a plugin's import error must not take the hub down
            self._report(name, f"import failed: {type(exc).__name__}: {exc}", exc)
            return
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._report(name, f"rejected: {exc}")
            return
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=name)
            self._report(name, f"rejected: {exc}")
            return
        self._callers.clear()  # subset callers must not include plugins registered after them
        if connector:
            self._admit_connector(name, plugin, distribution)

    def _admit_connector(self, connector_id: str, plugin: object, distribution: str | None) -> None:
        hooks = frozenset(
            caller.name for caller in self.pm.get_hookcallers(plugin) or []
        )
        if "connector_info" not in hooks:
            self.pm.unregister(name=connector_id)
            self._report(connector_id, "a connector must implement connector_info")
            return
        self.connectors[connector_id] = Connector(connector_id, ConnectorInfo(display_name=connector_id, auth_kind="none"), distribution, hooks)
        try:
            info = self._call(connector_id, "connector_info")
            if not isinstance(info, ConnectorInfo):
                raise PluginError("connector_info must return hub.types.ConnectorInfo")
        except Exception as exc:
            del self.connectors[connector_id]
            self.pm.unregister(name=connector_id)
            self._report(connector_id, f"connector_info failed: {type(exc).__name__}: {exc}", exc)
            return
        self.connectors[connector_id] = Connector(connector_id, info, distribution, hooks)

    # dispatch --------------------------------------------------------------

    def connector(self, connector_id: str) -> Connector:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise NotFound("No such connector") from None

    @property
    def config(self) -> Mapping[str, Any]:
        return self._config

    @config.setter
    def config(self, value: Mapping[str, Any]) -> None:
        self._config = value
        self._settings: dict[str, dict[str, str]] = {}

    def settings_for(self, connector_id: str) -> dict[str, str]:
        """The connector's own settings, collected once (every webhook needs them)."""
        found = self._settings.get(connector_id)
        if found is None:
            found = self._settings[connector_id] = connector_settings(self.config, self.environ, connector_id)
        return dict(found)

    def _caller(self, connector_id: str, hook: str) -> Any:
        key = (connector_id, hook)
        caller = self._callers.get(key)
        if caller is None:
            others = [p for name, p in self.pm.list_name_plugin() if name != connector_id]
            caller = self.pm.subset_hook_caller(hook, remove_plugins=others)
            self._callers[key] = caller
        return caller

    def _call(self, connector_id: str, hook: str, **kwargs: Any) -> Any:
        self.connector(connector_id)
        results = self._caller(connector_id, hook)(**kwargs)
        return results[0] if results else None

    def has_hook(self, connector_id: str, hook: str) -> bool:
        return self.connector(connector_id).supports(hook)

    def info(self, connector_id: str) -> ConnectorInfo:
        return self.connector(connector_id).info

    def oauth_config(self, connector_id: str) -> OAuthConfig | None:
        return self._call(connector_id, "oauth_config", settings=self.settings_for(connector_id))

    def oauth_account(self, connector_id: str, *, token: Mapping[str, Any], session: Any) -> AccountInfo | None:
        return self._call(connector_id, "oauth_account", token=token, session=session, settings=self.settings_for(connector_id))

    def api_key_account(self, connector_id: str, *, session: Any, credentials: Mapping[str, Any]) -> AccountInfo | None:
        return self._call(connector_id, "api_key_account", session=session, credentials=credentials, settings=self.settings_for(connector_id))

    def verify_signature(self, connector_id: str, *, request: WebhookRequest, credentials: Mapping[str, Any] | None, now: float | None = None) -> bool:
        verdict = self._call(
            connector_id,
            "verify_signature",
            request=request,
            credentials=credentials,
            settings=self.settings_for(connector_id),
            now=time.time() if now is None else now,
        )
        return verdict is True

    def webhook_handshake(self, connector_id: str, *, request: WebhookRequest) -> WebhookResponse | None:
        return self._call(connector_id, "webhook_handshake", request=request, settings=self.settings_for(connector_id))

    def normalize(self, connector_id: str, *, request: WebhookRequest) -> list[NormalizedEvent]:
        events = self._call(connector_id, "normalize", request=request, settings=self.settings_for(connector_id))
        return list(events or [])

    def sync(self, connector_id: str, *, session: Any, credentials: Mapping[str, Any], cursor: str | None) -> SyncResult:
        result = self._call(connector_id, "sync", session=session, credentials=credentials, cursor=cursor, settings=self.settings_for(connector_id))
        if not isinstance(result, SyncResult):
            raise PluginError(f"connector {connector_id} sync did not return a SyncResult")
        return result

    def revoke(self, connector_id: str, *, session: Any, credentials: Mapping[str, Any]) -> None:
        self._call(connector_id, "revoke", session=session, credentials=credentials, settings=self.settings_for(connector_id))

    def check_health(self, connector_id: str, *, session: Any, credentials: Mapping[str, Any]) -> HealthResult | None:
        return self._call(connector_id, "check_health", session=session, credentials=credentials, settings=self.settings_for(connector_id))

    def renew_subscription(self, connector_id: str, *, session: Any, credentials: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._call(connector_id, "renew_subscription", session=session, credentials=credentials, settings=self.settings_for(connector_id))

    def proxy_config(self, connector_id: str, *, credentials: Mapping[str, Any]) -> ProxyConfig | None:
        config = self._call(connector_id, "proxy_config", credentials=credentials, settings=self.settings_for(connector_id))
        if config is not None and not isinstance(config, ProxyConfig):
            raise PluginError(f"connector {connector_id} proxy_config did not return a ProxyConfig")
        return config

    def process_event(self, event: Mapping[str, Any]) -> None:
        """Run every processor; the first exception propagates so the event retries."""
        self.pm.hook.process_event(event=event)

    def automate(self, event: Mapping[str, Any]) -> None:
        """Run every automation; the first exception propagates so the automation retries."""
        self.pm.hook.automate(event=event)

    def implemented(self, hook: str) -> bool:
        """Whether any loaded plugin implements `hook` (a fan-out with no receiver is skipped)."""
        return bool(getattr(self.pm.hook, hook).get_hookimpls())

    def declared_but_missing(self, connector_id: str) -> list[str]:
        """What the connector's `ConnectorInfo` promises without the hook to keep it (the listing drops such a flag silently)."""
        connector = self.connector(connector_id)
        info = connector.info
        wanted = [("supports_sync", "sync"), ("supports_revoke", "revoke"), ("supports_health_check", "check_health")]
        found = [f"{flag} is set but the {hook} hook is missing" for flag, hook in wanted if getattr(info, flag) and not connector.supports(hook)]
        if info.webhook_routing != "none":
            found += [f"webhook_routing is {info.webhook_routing!r} but the {hook} hook is missing"
                      for hook in ("verify_signature", "normalize") if not connector.supports(hook)]
        if info.auth_kind == "oauth2" and not connector.supports("oauth_config"):
            found.append("auth_kind is 'oauth2' but the oauth_config hook is missing")
        return found

    # description -----------------------------------------------------------

    def describe(self, connector_id: str) -> dict[str, Any]:
        connector = self.connector(connector_id)
        info = connector.info
        settings = self.settings_for(connector_id)
        configured = True
        if info.auth_kind == "oauth2":
            upper = connector_id.upper()
            configured = bool(settings.get(f"OAUTH_{upper}_CLIENT_ID") and settings.get(f"OAUTH_{upper}_CLIENT_SECRET"))
        return {
            "id": connector_id,
            "display_name": info.display_name,
            "description": info.description,
            "auth_kind": info.auth_kind,
            "configured": configured,
            "credential_fields": dict(info.credential_fields),
            "required_credentials": list(info.required_credentials),
            "webhook_routing": info.webhook_routing,
            "supports": {
                "oauth": connector.supports("oauth_config"),
                "api_key": bool(info.credential_fields),
                "webhooks": connector.supports("verify_signature") and connector.supports("normalize"),
                "sync": info.supports_sync and connector.supports("sync"),
                "revoke": info.supports_revoke and connector.supports("revoke"),
                "health_check": info.supports_health_check and connector.supports("check_health"),
                "proxy": connector.supports("proxy_config"),
            },
            "distribution": connector.distribution,
        }
