"""The `hub` command line: database, server, tenants, keys, connectors."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from hub.queue.outbox import EVENT_ATTENTION_STATUSES, EVENT_STATUSES, QUEUES
from hub.runtime import current_hub


def _create_app() -> Flask:
    """The app for CLI commands; a refused configuration is one clear line, not a traceback."""
    from hub.app import create_app
    from hub.errors import ConfigurationError

    try:
        return create_app()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


def _require_keys_that_open_stored_data() -> None:
    """Processes that read or seal credentials refuse to run on keys that cannot open the stored data."""
    from hub.errors import ConfigurationError
    from hub.storage.key_check import verify_keys_at_start

    try:
        verify_keys_at_start(current_hub().envelope)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """Operate the integration hub."""


@click.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Run migrations to the newest revision.")
@with_appcontext
def db_upgrade() -> None:
    from hub.storage.database import current_revision, upgrade_database

    upgrade_database()
    click.echo(f"database at revision {current_revision()}")


@click.command("serve", help="Run the development server (production: gunicorn -c python:hub.gunicorn_config 'hub:create_app()').")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int) -> None:
    from flask import current_app
    from werkzeug.serving import run_simple

    _require_keys_that_open_stored_data()
    click.echo(f"hub serving on http://{host}:{port}")
    run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)


@click.group("tenants", help="Tenants and API keys.")
def tenants_group() -> None:
    pass


@tenants_group.command("create", help="Create a tenant; prints its id and API key (shown once).")
@click.argument("name")
@with_appcontext
def tenants_create(name: str) -> None:
    from hub.tenancy.tenants import create_tenant

    tenant, api_key = create_tenant(name)
    click.echo(f"tenant_id: {tenant.id}")
    click.echo(f"api_key:   {api_key}")
    click.echo("Store the API key now; it is not shown again.", err=True)


@tenants_group.command("delete", help="Delete a tenant for good: its integrations, API keys and data keys (its secrets never open again).")
@click.argument("tenant_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def tenants_delete(tenant_id: str, yes: bool) -> None:
    from hub.errors import NotFound
    from hub.tenancy.tenants import delete_tenant

    if not yes:
        click.confirm(f"Delete tenant {tenant_id}? Its credentials are destroyed and cannot be recovered", abort=True)
    try:
        deleted = delete_tenant(tenant_id)
    except NotFound:
        raise click.ClickException("no such tenant") from None
    click.echo(
        f"deleted tenant {tenant_id}: {deleted.integrations} integrations deleted, "
        f"{deleted.api_keys} API keys revoked, {deleted.data_keys} data keys destroyed"
    )


@tenants_group.group("keys", help="A tenant's API keys (several at once, so rotation needs no downtime).")
def tenant_keys_group() -> None:
    pass


@tenant_keys_group.command("create", help="Create an API key for the tenant; prints it once.")
@click.argument("tenant_id")
@click.option("--name", default=None, help="A label to tell the key apart (1-200 characters).")
@with_appcontext
def tenant_keys_create(tenant_id: str, name: str | None) -> None:
    from hub.errors import HubError
    from hub.tenancy.api_keys import create_api_key

    if name is not None and not 1 <= len(name) <= 200:
        raise click.BadParameter("a name is 1 to 200 characters", param_hint="--name")
    try:
        row, key = create_api_key(tenant_id, name)
    except HubError as error:
        raise click.ClickException(error.detail) from None
    click.echo(f"key_id:  {row.id}")
    click.echo(f"api_key: {key}")
    click.echo("Store the API key now; it is not shown again.", err=True)


@tenant_keys_group.command("list", help="The tenant's live API keys (never the keys themselves).")
@click.argument("tenant_id")
@with_appcontext
def tenant_keys_list(tenant_id: str) -> None:
    from hub.tenancy.api_keys import list_api_keys, serialize_api_key

    rows = list_api_keys(tenant_id)
    if not rows:
        click.echo("no keys")
    for row in rows:
        view = serialize_api_key(row)
        click.echo(f"{view['id']}  {view['prefix']}...  created={view['created_at']}  last_used={view['last_used_at'] or '-'}  {view['name'] or ''}".rstrip())


@tenant_keys_group.command("revoke", help="Revoke an API key; every process refuses it from the next request on.")
@click.argument("key_id")
@with_appcontext
def tenant_keys_revoke(key_id: str) -> None:
    from hub.errors import NotFound
    from hub.tenancy.api_keys import revoke_api_key

    try:
        revoke_api_key(key_id, tenant_id=None)
    except NotFound:
        raise click.ClickException("no such live API key") from None
    click.echo(f"revoked {key_id}")


@click.group("keys", help="Encryption keys: the key provider's master keys and the tenants' data keys.")
def keys_group() -> None:
    pass


@keys_group.command("generate", help="Print a new master key for the local key provider (KMS_KEY; put it first to rotate).")
def keys_generate() -> None:
    from hub.storage.key_providers import generate_local_master_key

    click.echo(generate_local_master_key())


@keys_group.command("rotate", help="Re-wrap every data key under the newest master key; --data-keys: new data keys, every secret re-sealed.")
@click.option("--data-keys", is_flag=True, help="Give each tenant a new data key and re-seal its secrets under it (online, in batches, resumable).")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10000))
@with_appcontext
def keys_rotate(data_keys: bool, batch_size: int) -> None:
    from hub.errors import KeyProviderUnavailable
    from hub.storage.key_rotation import rewrap_data_keys, rotate_data_keys

    _require_keys_that_open_stored_data()
    envelope = current_hub().envelope
    try:
        rewrapped = rewrap_data_keys(envelope)
        click.echo(f"re-wrapped {rewrapped.rewrapped} data keys under master key {rewrapped.master_key_id}")
        if rewrapped.other_provider:
            click.echo(f"{rewrapped.other_provider} data keys belong to another key provider and were left as they are", err=True)
        if not data_keys:
            return
        report = rotate_data_keys(envelope, batch_size=batch_size)
    except KeyProviderUnavailable:
        raise click.ClickException("the key provider is unavailable; run again to continue where it stopped") from None
    click.echo(f"made {report.new_data_keys} data keys and re-sealed {report.resealed} records under them")
    if report.unreadable:
        click.echo(f"{report.unreadable} records do not open under any configured key and were left as they are", err=True)
    if report.skipped_concurrent or report.unreadable:
        if report.skipped_concurrent:
            click.echo(f"{report.skipped_concurrent} records changed during rotation; run again to finish", err=True)
        sys.exit(1)


@click.group("connectors", help="Installed connectors.")
def connectors_group() -> None:
    pass


@connectors_group.command("list", help="Installed connectors, broken plugins and app-level webhook URLs.")
@with_appcontext
def connectors_list() -> None:
    from hub.tenancy.connector_apps import app_webhook_url

    plugins = current_hub().plugins
    if not plugins.connectors:
        click.echo("no connectors installed")
    for cid in sorted(plugins.connectors):
        d = plugins.describe(cid)
        supports = ",".join(name for name, on in d["supports"].items() if on) or "-"
        configured = "configured" if d["configured"] else "not configured"
        click.echo(f"{cid:<12} {d['display_name']:<16} {d['auth_kind']:<8} {configured:<15} supports={supports}")
        if d["webhook_routing"] in ("app", "both"):
            click.echo(f"{'':<12} app webhook URL: {app_webhook_url(cid)}")
    for broken in plugins.broken:
        click.echo(f"BROKEN {broken.name}: {broken.error}" + (f" ({broken.where})" if broken.where else ""), err=True)


@connectors_group.command("check", help="Load every plugin; exit 1 naming each broken one (file:line and traceback) or each promise a connector does not keep.")
@with_appcontext
def connectors_check() -> None:
    plugins = current_hub().plugins
    failed = False
    for broken in plugins.broken:
        failed = True
        click.echo(f"BROKEN {broken.name}: {broken.error}" + (f"\n  at {broken.where}" if broken.where else ""), err=True)
        if broken.traceback:
            click.echo(broken.traceback.rstrip(), err=True)
    for cid in sorted(plugins.connectors):
        problems = plugins.declared_but_missing(cid)
        failed = failed or bool(problems)
        for problem in problems:
            click.echo(f"INCOMPLETE {cid}: {problem}", err=True)
        if not problems:
            click.echo(f"ok {cid} ({plugins.describe(cid)['distribution'] or 'not packaged'})")
    sys.exit(1 if failed else 0)


@connectors_group.command("new", help="Write a new connector package NAME (pyproject with the entry point, hooks, tests that pass as written).")
@click.argument("name")
@click.option("--directory", "-d", type=click.Path(file_okay=False), default=".", show_default=True, help="Where to create hub-NAME/.")
def connectors_new(name: str, directory: str) -> None:
    from hub.scaffold import write_connector_package

    try:
        written = write_connector_package(name, Path(directory))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="NAME") from None
    click.echo(f"wrote {written}")
    click.echo(f"next: pip install -e '{written}[test]' && pytest {written / 'tests'}")


@click.group("tokens", help="OAuth access tokens.")
def tokens_group() -> None:
    pass


@tokens_group.command("refresh", help="Refresh every access token that expires within the next 15 minutes.")
@with_appcontext
def tokens_refresh() -> None:
    from hub.provider.credentials import refresh_expiring_tokens

    outcome = refresh_expiring_tokens()
    click.echo(" ".join(f"{name}={count}" for name, count in outcome.items()))
    if outcome["failed"]:
        sys.exit(1)


@click.command("worker", help="Run Huey consumers for the webhooks, sync, automation and deliveries queues.")
@click.option("--queue", "queue_names", default=",".join(QUEUES), show_default=True, help="Comma-separated queues to consume.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker threads per queue (four times as many for deliveries, which mostly wait on receivers).")
@click.option("--periodic/--no-periodic", default=True, show_default=True, help="Run the periodic maintenance (relay, syncs, refresh).")
@click.option("--drain", is_flag=True, help="Run what is queued now in this process, then exit.")
@with_appcontext
def worker_command(queue_names: str, workers: int, periodic: bool, drain: bool) -> None:
    from hub.queue.queues import current_queues
    from hub.worker.supervisor import run_consumer, supervise

    names = [name.strip() for name in queue_names.split(",") if name.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if unknown or not names:
        raise click.BadParameter(f"unknown queue {', '.join(unknown) or '(none)'}; choose from {', '.join(QUEUES)}", param_hint="--queue")
    _require_keys_that_open_stored_data()
    if drain:
        click.echo(f"ran {current_queues().run_pending(names)} tasks")
        return
    if len(names) == 1:
        run_consumer(names[0], workers=workers, periodic=periodic)
    else:
        sys.exit(supervise(names, workers=workers, periodic=periodic))


@click.group("events", help="Received events and the dead-letter list.")
def events_group() -> None:
    pass


@events_group.command("list", help="Newest events first, across tenants unless --tenant is given.")
@click.option("--tenant", "tenant_id", default=None, help="Only this tenant's events.")
@click.option("--status", default=None, type=click.Choice(EVENT_STATUSES))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def events_list(tenant_id: str | None, status: str | None, limit: int) -> None:
    from hub.events.queries import list_events

    rows, _next_page = list_events(tenant_id or None, status=status, limit=limit)
    if not rows:
        click.echo("no events")
    for row in rows:
        received = row.received_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        error = f"  {row.last_error}" if row.last_error and row.status in EVENT_ATTENTION_STATUSES else ""
        click.echo(f"{row.id}  {received}  {row.status:<10} attempts={row.attempts}  {row.connector}  {row.type}{error}")


@events_group.command("replay", help="Queue an event for processing again (a dead one above all).")
@click.argument("event_id")
@with_appcontext
def events_replay(event_id: str) -> None:
    from hub.errors import NotFound
    from hub.events.queries import replay_event
    from hub.queue.queues import enqueue

    try:
        job_id, dispatches = replay_event(None, event_id)
    except NotFound:
        raise click.ClickException("no such event") from None
    enqueue(dispatches)
    click.echo(f"event {event_id} queued as job {job_id}")


@click.group("destinations", help="Tenants' endpoints that receive signed event deliveries.")
def destinations_group() -> None:
    pass


@destinations_group.command("list", help="Destinations across tenants unless --tenant is given (never a secret).")
@click.option("--tenant", "tenant_id", default=None, help="Only this tenant's destinations.")
@with_appcontext
def destinations_list(tenant_id: str | None) -> None:
    import sqlalchemy as sa

    from hub.storage.models import Destination, db

    query = sa.select(Destination).order_by(Destination.created_at)
    if tenant_id:
        query = query.where(Destination.tenant_id == tenant_id)
    rows = db.session.execute(query).scalars().all()
    if not rows:
        click.echo("no destinations")
    for row in rows:
        reason = f"  ({row.disabled_reason})" if row.disabled_reason and row.status != "enabled" else ""
        click.echo(f"{row.id}  tenant={row.tenant_id}  {row.status:<8}  {row.url}{reason}")


@click.group("deliveries", help="Deliveries of events to destinations.")
def deliveries_group() -> None:
    pass


@deliveries_group.command("list", help="Newest deliveries first, across tenants unless --tenant is given.")
@click.option("--tenant", "tenant_id", default=None, help="Only this tenant's deliveries.")
@click.option("--status", default=None, type=click.Choice(("pending", "succeeded", "failed")))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def deliveries_list(tenant_id: str | None, status: str | None, limit: int) -> None:
    from hub.queue.deliveries import recent_deliveries

    rows = recent_deliveries(tenant_id=tenant_id or None, status=status, limit=limit)
    if not rows:
        click.echo("no deliveries")
    for row in rows:
        created = row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        code = row.last_status_code if row.last_status_code is not None else "-"
        error = f"  {row.last_error}" if row.last_error and row.status != "succeeded" else ""
        click.echo(f"{row.id}  {created}  {row.status:<9} attempts={row.attempts}  status_code={code}  destination={row.destination_id}  {row.type}{error}")


@deliveries_group.command("retry", help="One more attempt of a delivery, now, with the same webhook-id.")
@click.argument("delivery_id")
@with_appcontext
def deliveries_retry(delivery_id: str) -> None:
    from hub.errors import Conflict, NotFound
    from hub.queue.deliveries import retry_delivery
    from hub.queue.queues import enqueue

    try:
        dispatch = retry_delivery(None, delivery_id)
    except NotFound:
        raise click.ClickException("no such delivery") from None
    except Conflict as error:
        raise click.ClickException(error.detail) from None
    enqueue([dispatch])
    click.echo(f"delivery {delivery_id} queued for another attempt")


@click.group("metrics", help="Prometheus metrics.")
def metrics_group() -> None:
    pass


@metrics_group.command("serve", help="Serve /metrics on HUB_METRICS_LISTEN, a listener apart from the API.")
@with_appcontext
def metrics_serve() -> None:
    from flask import current_app

    from hub.errors import ConfigurationError
    from hub.monitoring.listener import serve_metrics

    try:
        serve_metrics(current_app._get_current_object())  # type: ignore[attr-defined]
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


@click.command("proxy", help="Call the provider's API as an integration (debugging a connection); prints the status and the body, never a credential.")
@click.argument("integration_id")
@click.argument("method", type=click.Choice(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], case_sensitive=False))
@click.argument("path")
@click.option("--data", "-d", default=None, help="Request body; @FILE reads it from a file.")
@click.option("--header", "-H", "headers", multiple=True, help="A request header, 'Name: value' (repeatable).")
@click.option("--retries", type=click.IntRange(0, 10), default=0, show_default=True, help="Hub-Retries for this call.")
@with_appcontext
def proxy_command(integration_id: str, method: str, path: str, data: str | None, headers: tuple[str, ...], retries: int) -> None:
    from hub import connections
    from hub.errors import HubError
    from hub.tenancy.integrations import tenant_of_integration

    _require_keys_that_open_stored_data()
    sent_headers = {"Hub-Retries": str(retries)}
    for header in headers:
        name, separator, value = header.partition(":")
        if not separator or not name.strip():
            raise click.BadParameter(f"expected 'Name: value', got {header!r}", param_hint="--header")
        sent_headers[name.strip()] = value.strip()
    body: bytes | None = None
    if data is not None:
        body = Path(data[1:]).read_bytes() if data.startswith("@") else data.encode("utf-8")
    try:
        session = connections.session(tenant_of_integration(integration_id), integration_id)
        response = session.request(method.upper(), path, data=body, headers=sent_headers)
    except HubError as error:
        raise click.ClickException(f"{error.status} {error.title}: {error.detail}") from None
    click.echo(f"HTTP {response.status_code} {response.reason or ''}".rstrip() + f"  (attempts: {response.proxy_attempts})", err=True)
    click.echo(response.content.decode("utf-8", errors="replace"), nl=False)
    if response.content and not response.content.endswith(b"\n"):
        click.echo()
    if response.status_code >= 400:
        sys.exit(1)


COMMANDS = (
    db_group, serve_command, tenants_group, keys_group, connectors_group, tokens_group, worker_command, events_group, metrics_group,
    destinations_group, deliveries_group,
    proxy_command,
)
for _command in COMMANDS:
    main.add_command(_command)
