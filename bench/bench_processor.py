"""A `process_event` plugin that does nothing, for the processing benchmark.

Loaded into `hub worker` with HUB_PLUGINS=bench_processor (bench/ on
PYTHONPATH), so the worker's figures are the hub's own cost per event:
claim, load, hand to the processors, finish.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub import hookimpl


@hookimpl
def process_event(event: Mapping[str, Any]) -> None:
    return None
