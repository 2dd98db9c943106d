"""CPU per request of one proxied GET, measured in this process: where the proxy's milliseconds go.

    .venv/bin/python bench/profile_proxy.py [--requests 2000] [--top 30] [--no-profile]

The hub app runs in this process on a scratch PostgreSQL database and Redis
prefix (as in proxy.py), with one Stripe API-key integration; the fake
provider (fake_provider_app.py) runs under gunicorn in another process, so
its CPU is not counted. The WSGI app is called directly in a loop with the
tenant's real API key, and for each path the CPU time per request
(time.process_time) is printed; then one cProfile run of the proxied GET
lists the functions with the most cumulative time.

Paths: the proxied `GET /v1/charges`, `GET /api/integrations/<id>` (the
cheapest authenticated call), and `GET /healthz` (Flask with no auth).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

_BENCH = os.path.dirname(os.path.abspath(__file__))
# bench/profile.py would shadow the standard library's `profile`, which cProfile imports.
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _BENCH]
import cProfile  # noqa: E402

sys.path.insert(0, _BENCH)

from common import free_port, gunicorn, hub_app, hub_env, migrate_and_create_tenant, redis_prefix, scratch_database  # noqa: E402
from fake_provider_app import API_KEY  # noqa: E402


def environ_for(path: str, key: str, port: int) -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "RAW_URI": path,
        "REQUEST_URI": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": f"127.0.0.1:{port}",
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "HTTP_USER_AGENT": "wrk",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(app, template: dict) -> int:  # type: ignore[no-untyped-def]
    status: list[str] = []

    def start_response(line: str, headers: list, exc_info=None):  # type: ignore[no-untyped-def]
        status.append(line)

    environ = dict(template)
    environ["wsgi.input"] = io.BytesIO(b"")
    body = app(environ, start_response)
    try:
        for _chunk in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status[0].split()[0])


def cpu_ms_per_request(app, template: dict, count: int) -> float:  # type: ignore[no-untyped-def]
    for _ in range(50):
        status = call(app, template)
        assert status == 200, status
    started = time.process_time()
    for _ in range(count):
        call(app, template)
    return 1000 * (time.process_time() - started) / count


def database_round_trips(app, template: dict) -> str:  # type: ignore[no-untyped-def]
    """What one request asks of the database: statements, and transactions begun, committed and rolled back."""
    import sqlalchemy as sa

    from hub.storage.models import db

    engine = db.engine
    seen: dict[str, int] = {"statements": 0, "begin": 0, "commit": 0, "rollback": 0}
    listeners = {
        "before_cursor_execute": lambda *a, **k: seen.__setitem__("statements", seen["statements"] + 1),
        "begin": lambda *a: seen.__setitem__("begin", seen["begin"] + 1),
        "commit": lambda *a: seen.__setitem__("commit", seen["commit"] + 1),
        "rollback": lambda *a: seen.__setitem__("rollback", seen["rollback"] + 1),
    }
    for name, listener in listeners.items():
        sa.event.listen(engine, name, listener)
    # psycopg sends BEGIN, COMMIT and ROLLBACK as commands of their own (SQLAlchemy's events fire even
    # where autocommit sends nothing): count what reaches the server.
    from psycopg._connection_base import BaseConnection

    original = BaseConnection._exec_command
    sent: list[bytes] = []

    def counted(self, command, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(bytes(command) if isinstance(command, (bytes, bytearray)) else str(command).encode())
        return original(self, command, *args, **kwargs)

    BaseConnection._exec_command = counted  # type: ignore[method-assign]
    try:
        call(app, template)
    finally:
        BaseConnection._exec_command = original  # type: ignore[method-assign]
        for name, listener in listeners.items():
            sa.event.remove(engine, name, listener)
    events = ", ".join(f"{name} {count}" for name, count in seen.items())
    return f"{events}; transaction commands sent: {[command.decode(errors='replace')[:20] for command in sent]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--dump", help="also write the cProfile stats to this file (pstats format)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hubbench-proxyprof-") as folder:
        provider_port = free_port()
        provider_url = f"http://127.0.0.1:{provider_port}"
        provider_env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.abspath(__file__))}
        with gunicorn("fake_provider_app:app", provider_env, provider_port, Path(folder) / "provider.log"):
            with scratch_database() as database_url, redis_prefix() as prefix:
                env = hub_env(database_url, prefix, folder, HUB_PROXY_RATE_LIMIT="off", HUB_TENANT_RATE_LIMIT="off", STRIPE_API_BASE_URL=provider_url)
                _tenant, key = migrate_and_create_tenant(env)
                app = hub_app(env)
                logging.getLogger().handlers  # the app's own logging configuration stays as configured
                client = app.test_client()
                created = client.post(
                    "/api/integrations",
                    json={"connector": "stripe", "name": "bench", "credentials": {"api_key": API_KEY}},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert created.status_code == 201, created.get_data(as_text=True)
                integration = created.get_json()["id"]
                paths = {
                    "proxied GET /v1/charges": f"/api/integrations/{integration}/proxy/v1/charges",
                    "GET /api/integrations/<id>": f"/api/integrations/{integration}",
                    "GET /healthz": "/healthz",
                }
                for label, path in paths.items():
                    template = environ_for(path, key, 80)
                    cpu = cpu_ms_per_request(app, template, args.requests)
                    with app.app_context():
                        statements = database_round_trips(app, template)
                    print(f"{label:32s} {cpu:.3f} ms CPU/request  database: {statements}", flush=True)
                if not args.no_profile:
                    template = environ_for(paths["proxied GET /v1/charges"], key, 80)
                    profiler = cProfile.Profile(time.process_time)
                    profiler.enable()
                    for _ in range(args.requests):
                        call(app, template)
                    profiler.disable()
                    if args.dump:
                        profiler.dump_stats(args.dump)
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
                    print(out.getvalue())
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
                    print(out.getvalue())


if __name__ == "__main__":
    main()
