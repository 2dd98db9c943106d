"""The connection proxy: the same GET load straight to a provider and through the hub, and a 64 MiB download's memory.

    .venv/bin/python bench/proxy.py [--seconds 10] [--warmup 2] [--download-mib 64]

A fake provider API (fake_provider_app.py) and the hub run under gunicorn
with the same settings (common.py: 2 workers x 4 threads, gthread); the hub
on a scratch PostgreSQL database and Redis prefix, with one Stripe API-key
integration created through its API and `STRIPE_API_BASE_URL` pointing at
the fake. wrk (get.lua) then sends `GET /v1/charges` for `--seconds`:

1. direct: to the fake provider, with the integration's key;
2. proxied: to `/api/integrations/<id>/proxy/v1/charges`, with the tenant's hub key;
3. for scale, `GET /api/integrations/<id>` on the same hub: the least an
   authenticated call of the hub costs (API key, one row), with no provider behind it.

Figures: requests/s of each, the ratio proxied/direct (goal >= 0.5), the
latency the proxy adds at p50 and p99 (goal: p50 + 3 ms at most), errors,
and the CPU the server under test spent per request.
Then one `--download-mib` download through the proxy, read as a stream:
the growth of each hub worker's peak RSS (VmHWM, reset before the download
where the kernel allows it) over its resident set before (goal <= 16 MiB).

The hub runs with HUB_PROXY_RATE_LIMIT=off and HUB_TENANT_RATE_LIMIT=off
(their defaults would answer 429 to most of this load, which goes to one
integration of one tenant) and otherwise its defaults, INFO logging included.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    free_port,
    gunicorn,
    hub_env,
    machine,
    migrate_and_create_tenant,
    cpu_seconds,
    peak_rss_mib,
    print_table,
    redis_prefix,
    scratch_database,
    worker_pids,
    write_results,
)
from fake_provider_app import API_KEY  # noqa: E402
from loadgen import WRK_CONNECTIONS, WRK_THREADS, wrk_binary  # noqa: E402

BENCH = Path(__file__).resolve().parent
GET_SCRIPT = BENCH / "get.lua"
MIB = 1024 * 1024


def server_cpu(master: int) -> float:
    return sum(cpu_seconds(pid) or 0.0 for pid in [master, *worker_pids(master)])


def measured(url: str, headers: dict[str, str], seconds: float, master: int) -> dict:
    """One wrk run, with the CPU the server (gunicorn master and workers) spent per request."""
    before = server_cpu(master)
    result = run_wrk_get(url, headers, seconds)
    result["server_cpu_ms_per_request"] = round(1000 * (server_cpu(master) - before) / max(1, result["requests"]), 3)
    return result


def run_wrk_get(url: str, headers: dict[str, str], seconds: float) -> dict:
    command = [wrk_binary(), f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency", "-s", str(GET_SCRIPT)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((l for l in completed.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stdout[-2000:]} {completed.stderr[-2000:]}")
    raw = json.loads(line[len("WRK_JSON "):])
    taken = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "requests_per_second": round(raw["requests"] / taken, 1),
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(raw["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "errors": sum(raw["errors"].values()),
        "wrk_cpu_seconds": round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 3),
    }


def _status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def download_memory(url: str, headers: dict[str, str], size: int, workers: list[int]) -> dict:
    """Stream one download through the proxy; how far each worker's peak resident set rose above where it stood."""
    reset = True
    for pid in workers:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            reset = False
    before = {pid: _status_bytes(pid, "VmRSS") if reset else _status_bytes(pid, "VmHWM") for pid in workers}
    received = 0
    with requests.get(url, params={"bytes": str(size)}, headers=headers, stream=True, timeout=120) as response:
        response.raise_for_status()
        for chunk in response.raw.stream(64 * 1024, decode_content=False):
            received += len(chunk)
    growth = {pid: _status_bytes(pid, "VmHWM") - before[pid] for pid in workers}
    return {
        "download_mib": round(received / MIB, 1),
        "peak_reset_before_download": reset,
        "worker_peak_growth_mib": round(max(growth.values()) / MIB, 1),
        "workers_peak_rss_mib": [peak_rss_mib(pid) for pid in workers],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--download-mib", type=int, default=64)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hubbench-proxy-") as folder:
        provider_port = free_port()
        provider_url = f"http://127.0.0.1:{provider_port}"
        provider_env = {**os.environ, "PYTHONPATH": str(BENCH)}
        with gunicorn("fake_provider_app:app", provider_env, provider_port, Path(folder) / "provider.log", ready_path="/healthz") as provider:
            direct_headers = {"Authorization": f"Bearer {API_KEY}"}
            run_wrk_get(f"{provider_url}/v1/charges", direct_headers, args.warmup)
            direct = measured(f"{provider_url}/v1/charges", direct_headers, args.seconds, provider.pid)

            with scratch_database() as database_url, redis_prefix() as prefix:
                env = hub_env(database_url, prefix, folder, HUB_PROXY_RATE_LIMIT="off", HUB_TENANT_RATE_LIMIT="off", STRIPE_API_BASE_URL=provider_url)
                _tenant_id, hub_key = migrate_and_create_tenant(env)
                hub_port = free_port()
                hub_url = f"http://127.0.0.1:{hub_port}"
                with gunicorn("hub:create_app()", env, hub_port, Path(folder) / "hub.log") as hub:
                    created = requests.post(
                        f"{hub_url}/api/integrations",
                        json={"connector": "stripe", "name": "bench", "credentials": {"api_key": API_KEY}},
                        headers={"Authorization": f"Bearer {hub_key}"},
                        timeout=30,
                    )
                    created.raise_for_status()
                    integration_url = f"{hub_url}/api/integrations/{created.json()['id']}"
                    proxy_base = f"{integration_url}/proxy"
                    hub_headers = {"Authorization": f"Bearer {hub_key}"}
                    run_wrk_get(f"{proxy_base}/v1/charges", hub_headers, args.warmup)
                    proxied = measured(f"{proxy_base}/v1/charges", hub_headers, args.seconds, hub.pid)
                    hub_floor = measured(integration_url, hub_headers, args.seconds, hub.pid)
                    memory = download_memory(f"{proxy_base}/big", hub_headers, args.download_mib * MIB, worker_pids(hub.pid))

    report = {
        "machine": machine(),
        "direct": direct,
        "proxied": proxied,
        "hub_get_integration": hub_floor,
        "ratio": round(proxied["requests_per_second"] / direct["requests_per_second"], 3) if direct["requests_per_second"] else None,
        "added_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 2),
        "added_p99_ms": round(proxied["p99_ms"] - direct["p99_ms"], 2),
        "download": memory,
        "goals": {"ratio_at_least": 0.5, "added_p50_ms_at_most": 3.0, "worker_peak_growth_mib_at_most": 16},
        "wrk": {"connections": WRK_CONNECTIONS, "threads": WRK_THREADS},
    }
    rows = [{"path": "direct", **direct}, {"path": "proxied", **proxied}, {"path": "hub GET integration", **hub_floor}]
    print_table("GET /v1/charges", rows, ["path", "requests_per_second", "p50_ms", "p90_ms", "p99_ms", "errors", "server_cpu_ms_per_request"])
    print(f"\nratio {report['ratio']}  added p50 {report['added_p50_ms']} ms  added p99 {report['added_p99_ms']} ms")
    print(f"{memory['download_mib']} MiB download: worker peak grew {memory['worker_peak_growth_mib']} MiB")
    write_results("proxy", report)


if __name__ == "__main__":
    main()
