"""The connection proxy: the same GET load straight to a provider and through the hub, and a 64 MiB download's memory.

    .venv/bin/python bench/proxy.py [--seconds 10] [--warmup 2] [--latency-ms 20] [--download-mib 64]

A fake provider API (fake_provider_app.py) and the hub run under gunicorn
(common.py: 2 workers, gthread; the hub with the usual 4 threads each, the
provider with PROVIDER_THREADS so that, like a real provider, its thread
count never bounds it); the hub on a scratch PostgreSQL database and Redis
prefix, with one Stripe API-key integration created through its API and
`STRIPE_API_BASE_URL` pointing at the fake. wrk (get.lua) sends
`GET /v1/charges` for `--seconds` per row:

1. zero latency (the worst case for the ratio: the provider answers a
   constant at once): direct to the provider, through the proxy, and for
   scale `GET /api/integrations/<id>` on the same hub (the least an
   authenticated call of the hub costs: API key, one row, no provider);
2. provider latency (`?latency_ms=N`, default 20 ms, like a real API):
   direct and through the proxy at the same wrk concurrency; once more
   through a hub with as many threads per worker as wrk has connections
   (a thread waits on the provider for the whole call, so the thread count
   bounds the proxy's rate: 8 threads / 21 ms is about 380 calls/s);
3. concurrency 1 (wrk -c1): the latency one caller sees, direct and
   proxied, at zero and at the provider latency.

Figures: requests/s, the ratio proxied/direct (goal >= 0.5), the latency the
proxy adds at p50 (goal: 3 ms at most) and p99, errors, and the CPU the
server under test spent per request. Then one `--download-mib` download
through the proxy, read as a stream: the growth of each hub worker's peak
RSS (VmHWM, reset before the download where the kernel allows it) over its
resident set before (goal <= 16 MiB). The machine's load average is noted
before and after: the 2 cores are shared.

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
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
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


PROVIDER_THREADS = 32


def measured(url: str, headers: dict[str, str], seconds: float, master: int, connections: int = WRK_CONNECTIONS) -> dict:
    """One wrk run, with the CPU the server (gunicorn master and workers) spent per request."""
    before = server_cpu(master)
    result = run_wrk_get(url, headers, seconds, connections)
    result["server_cpu_ms_per_request"] = round(1000 * (server_cpu(master) - before) / max(1, result["requests"]), 3)
    return result


def run_wrk_get(url: str, headers: dict[str, str], seconds: float, connections: int = WRK_CONNECTIONS) -> dict:
    command = [wrk_binary(), f"-t{min(WRK_THREADS, connections)}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency", "-s", str(GET_SCRIPT)]
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


def compared(direct: dict, proxied: dict) -> dict:
    return {
        "ratio": round(proxied["requests_per_second"] / direct["requests_per_second"], 3) if direct["requests_per_second"] else None,
        "added_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 2),
        "added_p99_ms": round(proxied["p99_ms"] - direct["p99_ms"], 2),
    }


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--download-mib", type=int, default=64)
    args = parser.parse_args()
    seconds = args.seconds
    slow = f"?latency_ms={args.latency_ms}"
    load_before = load_average()

    with tempfile.TemporaryDirectory(prefix="hubbench-proxy-") as folder:
        provider_port = free_port()
        provider_url = f"http://127.0.0.1:{provider_port}"
        provider_env = {**os.environ, "PYTHONPATH": str(BENCH)}
        with gunicorn("fake_provider_app:app", provider_env, provider_port, Path(folder) / "provider.log", ready_path="/healthz", threads=PROVIDER_THREADS) as provider:
            charges = f"{provider_url}/v1/charges"
            direct_headers = {"Authorization": f"Bearer {API_KEY}"}
            run_wrk_get(charges, direct_headers, args.warmup)
            direct = measured(charges, direct_headers, seconds, provider.pid)
            direct_slow = measured(charges + slow, direct_headers, seconds, provider.pid)
            direct_one = measured(charges, direct_headers, seconds, provider.pid, connections=1)
            direct_slow_one = measured(charges + slow, direct_headers, seconds, provider.pid, connections=1)

            with scratch_database() as database_url, redis_prefix() as prefix:
                env = hub_env(database_url, prefix, folder, HUB_PROXY_RATE_LIMIT="off", HUB_TENANT_RATE_LIMIT="off", STRIPE_API_BASE_URL=provider_url)
                _tenant_id, hub_key = migrate_and_create_tenant(env)
                hub_headers = {"Authorization": f"Bearer {hub_key}"}
                hub_port = free_port()
                hub_url = f"http://127.0.0.1:{hub_port}"
                with gunicorn("hub:create_app()", env, hub_port, Path(folder) / "hub.log") as hub:
                    created = requests.post(
                        f"{hub_url}/api/integrations",
                        json={"connector": "stripe", "name": "bench", "credentials": {"api_key": API_KEY}},
                        headers=hub_headers,
                        timeout=30,
                    )
                    created.raise_for_status()
                    integration_path = f"/api/integrations/{created.json()['id']}"
                    proxied_charges = f"{hub_url}{integration_path}/proxy/v1/charges"
                    run_wrk_get(proxied_charges, hub_headers, args.warmup)
                    proxied = measured(proxied_charges, hub_headers, seconds, hub.pid)
                    hub_floor = measured(f"{hub_url}{integration_path}", hub_headers, seconds, hub.pid)
                    proxied_slow = measured(proxied_charges + slow, hub_headers, seconds, hub.pid)
                    proxied_one = measured(proxied_charges, hub_headers, seconds, hub.pid, connections=1)
                    proxied_slow_one = measured(proxied_charges + slow, hub_headers, seconds, hub.pid, connections=1)
                    memory = download_memory(f"{hub_url}{integration_path}/proxy/big", hub_headers, args.download_mib * MIB, worker_pids(hub.pid))
                many_port = free_port()
                many_url = f"http://127.0.0.1:{many_port}"
                with gunicorn("hub:create_app()", env, many_port, Path(folder) / "hub-threads.log", threads=WRK_CONNECTIONS) as hub_many:
                    many_charges = f"{many_url}{integration_path}/proxy/v1/charges"
                    run_wrk_get(many_charges + slow, hub_headers, args.warmup)
                    proxied_slow_threads = measured(many_charges + slow, hub_headers, seconds, hub_many.pid)

    latency = f"{args.latency_ms} ms"
    report = {
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "zero_latency": {"direct": direct, "proxied": proxied, "hub_get_integration": hub_floor, **compared(direct, proxied)},
        "provider_latency": {
            "latency_ms": args.latency_ms,
            "direct": direct_slow,
            "proxied": proxied_slow,
            **compared(direct_slow, proxied_slow),
            "proxied_hub_threads_per_worker": WRK_CONNECTIONS,
            "proxied_more_threads": proxied_slow_threads,
            "more_threads": compared(direct_slow, proxied_slow_threads),
        },
        "concurrency_1": {
            "zero_latency": {"direct": direct_one, "proxied": proxied_one, **compared(direct_one, proxied_one)},
            "provider_latency": {"direct": direct_slow_one, "proxied": proxied_slow_one, **compared(direct_slow_one, proxied_slow_one)},
        },
        "download": memory,
        "goals": {"ratio_at_least": 0.5, "added_p50_ms_at_most": 3.0, "worker_peak_growth_mib_at_most": 16},
        "wrk": {"connections": WRK_CONNECTIONS, "threads": WRK_THREADS},
        "gunicorn": {"workers": GUNICORN_WORKERS, "hub_threads": GUNICORN_THREADS, "provider_threads": PROVIDER_THREADS},
    }
    rows = [
        {"row": f"c{WRK_CONNECTIONS} provider 0 ms: direct", **direct},
        {"row": f"c{WRK_CONNECTIONS} provider 0 ms: proxied", **proxied},
        {"row": f"c{WRK_CONNECTIONS} hub GET integration", **hub_floor},
        {"row": f"c{WRK_CONNECTIONS} provider {latency}: direct", **direct_slow},
        {"row": f"c{WRK_CONNECTIONS} provider {latency}: proxied", **proxied_slow},
        {"row": f"c{WRK_CONNECTIONS} provider {latency}: proxied, hub {WRK_CONNECTIONS} threads", **proxied_slow_threads},
        {"row": "c1 provider 0 ms: direct", **direct_one},
        {"row": "c1 provider 0 ms: proxied", **proxied_one},
        {"row": f"c1 provider {latency}: direct", **direct_slow_one},
        {"row": f"c1 provider {latency}: proxied", **proxied_slow_one},
    ]
    print_table("GET /v1/charges", rows, ["row", "requests_per_second", "p50_ms", "p90_ms", "p99_ms", "errors", "server_cpu_ms_per_request"])
    for label, figures in (
        (f"c{WRK_CONNECTIONS} provider 0 ms", report["zero_latency"]),
        (f"c{WRK_CONNECTIONS} provider {latency}", report["provider_latency"]),
        (f"c{WRK_CONNECTIONS} provider {latency}, hub {WRK_CONNECTIONS} threads", report["provider_latency"]["more_threads"]),
        ("c1 provider 0 ms", report["concurrency_1"]["zero_latency"]),
        (f"c1 provider {latency}", report["concurrency_1"]["provider_latency"]),
    ):
        print(f"{label}: ratio {figures['ratio']}  added p50 {figures['added_p50_ms']} ms  added p99 {figures['added_p99_ms']} ms")
    print(f"{memory['download_mib']} MiB download: worker peak grew {memory['worker_peak_growth_mib']} MiB")
    print(f"load average before {load_before}, after {report['load_average_after']}")
    write_results("proxy", report)


if __name__ == "__main__":
    main()
