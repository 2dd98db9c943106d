"""One table of the latest figures (bench/results/*-latest.json) against the issue's targets.

    .venv/bin/python bench/summary.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, print_table, write_results  # noqa: E402


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}-latest.json"
    return json.loads(path.read_text()) if path.exists() else None


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    return "met" if value >= target else "MISSED"


def main() -> None:
    ingest, processing, deliveries = _load("ingest"), _load("processing"), _load("deliveries")
    rows: list[dict] = []
    summary: dict = {"benchmark": "summary"}
    if ingest:
        hub, floor = ingest["hub"], ingest["floor"]
        summary["machine"] = ingest["machine"]
        rows.append(dict(figure="ingest: hub requests/s", value=hub["requests_per_second"], detail=f"p50 {hub['p50_ms']} ms, p99 {hub['p99_ms']} ms, errors {hub['errors']}"))
        rows.append(dict(figure="ingest: floor requests/s", value=floor["requests_per_second"], detail=f"p50 {floor['p50_ms']} ms, p99 {floor['p99_ms']} ms, errors {floor['errors']}"))
        rows.append(dict(figure="ingest: hub / floor", value=ingest["hub_over_floor"], target=">= 0.7", verdict=_verdict(ingest["hub_over_floor"], 0.7)))
        if "dedupe_ratio" in ingest:
            stored = ingest["dedupe"]
            for count, run in stored.items():
                rows.append(dict(figure=f"dedupe: hub requests/s, {int(count):,} stored", value=run["requests_per_second"], detail=f"p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, errors {run['errors']}"))
            rows.append(dict(figure="dedupe: 10^6 stored / 10^4 stored", value=ingest["dedupe_ratio"], target=">= 0.9", verdict=_verdict(ingest["dedupe_ratio"], 0.9)))
        rows.append(dict(figure="memory: gunicorn worker peak RSS (MiB), hub", value=hub["worker_peak_rss_mib"], detail=f"floor: {floor['worker_peak_rss_mib']}"))
        summary["ingest"] = {k: ingest[k] for k in ("hub_over_floor", "dedupe_ratio") if k in ingest}
    if processing:
        hub_worker, bare = processing["hub_worker"], processing["bare_huey"]
        rows.append(dict(figure="processing: hub worker events/s", value=hub_worker["events_per_second"], detail=f"{hub_worker['processed']} events"))
        rows.append(dict(figure="processing: bare Huey events/s", value=bare["events_per_second"], detail=f"{bare['processed']} no-op tasks"))
        rows.append(dict(figure="processing: hub / bare", value=processing["hub_over_bare"], target=">= 0.5", verdict=_verdict(processing["hub_over_bare"], 0.5)))
        rows.append(dict(figure="memory: hub worker peak RSS (MiB)", value=hub_worker["consumer_peak_rss_mib"], detail=f"bare consumer: {bare['consumer_peak_rss_mib']}"))
        summary["processing"] = {"hub_over_bare": processing["hub_over_bare"]}
    if deliveries:
        hub_worker, floor = deliveries["hub"], deliveries["floor"]
        rows.append(dict(figure="deliveries: hub worker deliveries/s", value=hub_worker["deliveries_per_second"], detail=f"{hub_worker['succeeded']} deliveries, {hub_worker['threads']} threads"))
        rows.append(dict(figure="deliveries: POST loop deliveries/s", value=floor["deliveries_per_second"], detail=f"{floor['threads']} threads, pooled sessions"))
        if deliveries.get("hub_over_floor") is not None:
            rows.append(dict(figure="deliveries: hub / POST loop", value=deliveries["hub_over_floor"], target=">= 0.5", verdict=_verdict(deliveries["hub_over_floor"], 0.5)))
        if "ingest_ratio" in deliveries:
            rows.append(dict(figure="ingest: one destination / none", value=deliveries["ingest_ratio"], target=">= 0.95", verdict=_verdict(deliveries["ingest_ratio"], 0.95)))
        summary["deliveries"] = {k: deliveries[k] for k in ("hub_over_floor", "ingest_ratio") if k in deliveries}
    if not rows:
        raise SystemExit("no results yet: run bench/run")
    print_table("Benchmarks, latest results", rows, ["figure", "value", "target", "verdict", "detail"])
    summary["rows"] = rows
    write_results("summary", summary)


if __name__ == "__main__":
    main()
