"""Shared plumbing for the benchmarks: scratch databases, Redis prefixes, servers, memory, output."""

from __future__ import annotations

import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg
import redis
import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
VENV_BIN = Path(sys.executable).parent
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# The same gunicorn settings for every server under test (hub and floor, every run).
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "2"))
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "4"))
SIGNING_SECRET = "whsec_" + "benchmarkSigningSecret0123456789"

# Variables of the caller's environment that must not leak into a server under test.
_SCRUBBED_PREFIXES = ("HUB_", "OAUTH_", "STRIPE_", "SLACK_", "GMAIL_", "FLOOR_", "PROMETHEUS_")
_SCRUBBED_NAMES = {"DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEY", "KMS_KEY", "SECRET_KEY", "APP_BASE_URL", "FRONTEND_URL"}


def _use_source_snapshot() -> str | None:
    """With BENCH_SOURCE=<git ref>, run the hub and its plugins from that commit instead of the work tree.

    The commit is exported (git archive) to a folder under /tmp, once per
    commit, and put first on sys.path and PYTHONPATH, so this process and
    every server and worker it starts import that code, whatever is being
    edited in the work tree meanwhile. The installed distributions (entry
    points, dependencies) stay those of .venv.
    """
    ref = os.environ.get("BENCH_SOURCE")
    if not ref:
        return None
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    folder = Path(tempfile.gettempdir()) / f"hub-bench-source-{commit[:12]}"
    if not (folder / "hub" / "__init__.py").exists():
        staging = Path(tempfile.mkdtemp(prefix="hub-bench-source-"))
        archive = subprocess.run(["git", "archive", commit, "hub", "plugins", "migrations"], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(staging)], input=archive, check=True)
        staging.rename(folder) if not folder.exists() else None
    paths = [str(folder)] + [str(p) for p in sorted((folder / "plugins").glob("*")) if p.is_dir()]
    for path in reversed(paths):
        sys.path.insert(0, path)
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [os.environ.get("PYTHONPATH", "")] if p])
    return commit


SOURCE_COMMIT = _use_source_snapshot()


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED_NAMES}


# --- PostgreSQL and Redis -----------------------------------------------------


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new PostgreSQL database for one run, dropped afterwards (even on failure)."""
    name = f"hub_bench_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_prefix(label: str = "hubbench") -> Iterator[str]:
    """A prefix no other run uses; every Redis key containing it is deleted afterwards.

    Huey names its keys `huey.redis.<name>`, so keys are matched anywhere, not only at the start.
    """
    prefix = f"{label}-{secrets.token_hex(4)}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        client.close()


def checkpoint(database_url: str) -> None:
    """Flush dirty buffers so one run's writes are not paid for during the next run."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("CHECKPOINT")


# --- the hub -----------------------------------------------------------------
#
# The hub is set up through its command line (`hub keys generate`, `hub db upgrade`,
# `hub tenants create`) and its HTTP API, as an operator would: those stay the same
# whatever the modules inside are called, so BENCH_SOURCE can name any commit.


def hub_command(env: dict[str, str], *args: str) -> str:
    """`python -m hub ARGS` with this environment (the BENCH_SOURCE code when set); returns its output."""
    finished = subprocess.run([sys.executable, "-m", "hub", *args], env=env, cwd=str(BENCH), capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"hub {' '.join(args[:2])} failed: {finished.stderr[-2000:]}")
    return finished.stdout


def hub_env(database_url: str, prefix: str, instance: str, **extra: str) -> dict[str, str]:
    """The environment of a hub process under test: PostgreSQL, Redis, fixed keys, no rate limit."""
    env = clean_environ()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH", "")]))
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        HUB_REDIS_PREFIX=prefix,
        ENCRYPTION_KEY=hub_command(env, "keys", "generate").strip(),
        SECRET_KEY="bench-" + secrets.token_urlsafe(32),
        HUB_INSTANCE_PATH=instance,
        # The default is 6000/minute per integration; the benchmark sends more than that to one integration.
        HUB_WEBHOOK_RATE_LIMIT="off",
        APP_BASE_URL="http://127.0.0.1",
    )
    env.update(extra)
    return env


def hub_app(env: dict[str, str]) -> Any:
    """A hub app in this process, for the processing benchmark's set-up (its integration, enqueues)."""
    from hub.app import create_app

    return create_app(environ=env)


def migrate_and_create_tenant(env: dict[str, str], name: str = "bench") -> tuple[str, str]:
    """`hub db upgrade` and `hub tenants create`; returns (tenant id, API key)."""
    quiet = {**env, "HUB_LOG_LEVEL": "WARNING"}
    hub_command(quiet, "db", "upgrade")
    printed = dict(line.split(":", 1) for line in hub_command(quiet, "tenants", "create", name).splitlines() if ":" in line)
    return printed["tenant_id"].strip(), printed["api_key"].strip()


# --- servers -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(app_spec: str, port: int, threads: int | None = None) -> list[str]:
    return [
        str(VENV_BIN / "gunicorn"), app_spec,
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(GUNICORN_WORKERS),
        "--worker-class", "gthread", "--threads", str(threads or GUNICORN_THREADS),
        "--log-level", "warning",
    ]


@contextmanager
def gunicorn(
    app_spec: str, env: dict[str, str], port: int, log_path: Path, ready_path: str = "/healthz", threads: int | None = None
) -> Iterator[subprocess.Popen]:
    """The server under test, with the same gunicorn settings whatever the app (`threads` where a run says otherwise); its stderr goes to `log_path`."""
    log = log_path.open("wb")
    process = subprocess.Popen(gunicorn_command(app_spec, port, threads), env=env, cwd=str(BENCH), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}{ready_path}", process, log_path)
        deadline = time.time() + 30
        while len(worker_pids(process.pid)) < GUNICORN_WORKERS and time.time() < deadline:
            time.sleep(0.1)
        yield process
    finally:
        stop(process)
        log.close()


def wait_until_ready(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready:\n{tail(log_path)}")


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def tail(path: Path, size: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-size:].decode(errors="replace")


def worker_pids(master: int) -> list[int]:
    """The child processes of `master` (gunicorn's workers)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{master}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the peak resident set size of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (all its threads), in seconds; None once it has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_named(*names: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


class CpuMeter:
    """CPU seconds used by each group of processes between `start` and `stop`.

    On 2 cores the server, PostgreSQL, Redis and the load generator compete for
    the same CPU, so where the CPU goes per request says more than latency does.
    A group is a function returning its pids, asked again at `stop`, so processes
    started during the run (a PostgreSQL backend for a new connection) count
    from zero; one that exited during the run is not counted.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}

    def start(self) -> "CpuMeter":
        self.before = {name: {pid: cpu_seconds(pid) or 0.0 for pid in pids()} for name, pids in self.groups.items()}
        self.machine_before = machine_cpu_seconds()
        return self

    def stop(self) -> dict[str, float]:
        """CPU seconds per group, plus `machine_busy` and `machine_total` (all cores, every process)."""
        used: dict[str, float] = {}
        for name, pids in self.groups.items():
            before = self.before[name]
            now = {pid: cpu_seconds(pid) for pid in set(pids()) | set(before)}
            used[name] = round(sum(value - before.get(pid, 0.0) for pid, value in now.items() if value is not None), 3)
        busy, total = machine_cpu_seconds()
        used["machine_busy"] = round(busy - self.machine_before[0], 3)
        used["machine_total"] = round(total - self.machine_before[1], 3)
        return used


def postgres_counters(database_url: str) -> dict[str, float]:
    """Block reads and hits of this run's database; WAL written by the whole cluster (pg_stat_wal)."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        blocks = admin.execute("SELECT blks_read, blks_hit FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()
        wal = admin.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone()
    return {"blocks_read": blocks[0], "blocks_hit": blocks[1], "wal_records": wal[0], "wal_full_page_images": wal[1], "wal_bytes": float(wal[2])}


def postgres_pids(database_url: str) -> list[int]:
    """The backends connected to this run's database, and PostgreSQL's own background processes.

    Backends of other databases (anything else using this server) are left out.
    """
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s OR (datname IS NULL AND backend_type <> 'client backend')",
            (name,),
        ).fetchall()
    return [row[0] for row in rows]


def service_groups(server_pid: int, database_url: str) -> dict[str, Callable[[], list[int]]]:
    """The server under test (its process and children), PostgreSQL (this run's database) and Redis."""
    return {
        "server": lambda: [server_pid, *worker_pids(server_pid)],
        "postgres": lambda: postgres_pids(database_url),
        "redis": lambda: pids_named("redis-server"),
    }


# --- output ------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    if SOURCE_COMMIT:
        source = {"hub_source": f"commit {SOURCE_COMMIT[:12]} (BENCH_SOURCE={os.environ.get('BENCH_SOURCE')})"}
    else:
        dirty = git("status", "--porcelain", "--", "hub", "plugins", "migrations").splitlines()
        source = {"hub_source": f"work tree at {git('rev-parse', '--short', 'HEAD')}" + (f", with uncommitted changes in {len(dirty)} files" if dirty else "")}
    return {
        **source,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "gunicorn": f"{GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (gthread)",
    }


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    print(f"\n{title}")
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def write_results(name: str, report: dict) -> Path:
    """Print the report as JSON and keep it in bench/results/ (git-ignored)."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    text = json.dumps(report, indent=2)
    path.write_text(text + "\n")
    (RESULTS / f"{name}-latest.json").write_text(text + "\n")
    print("\n" + text)
    print(f"\nwritten to {path.relative_to(ROOT)}")
    return path
