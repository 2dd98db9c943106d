"""Large bodies stream through the proxy both ways: the hub's memory does not grow with them.

The hub, the fake provider and the caller all run in this process (the hub
served by `serve_wsgi` on 127.0.0.1), so the process's peak resident memory
bounds what the hub held: a 64 MiB body may not raise it by more than 16 MiB.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.fake_provider_api import pattern_sha256

MIB = 1024 * 1024
BODY = 64 * MIB
ALLOWED_GROWTH = 16 * MIB


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    assert match, f"/proc/self/status has no {field}"
    return int(match.group(1)) * 1024


def peak_growth(work: Callable[[], None]) -> int:
    """Bytes the resident set grew by at its peak while `work` ran.

    The kernel's own peak (VmHWM, reset through /proc/self/clear_refs) when it
    may be reset; otherwise a sampler thread's maximum.
    """
    baseline = _status_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        kernel_peak = True
    except OSError:
        kernel_peak = False
    samples = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(_status_kib("VmRSS"))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    peak = max(_status_kib("VmHWM") if kernel_peak else 0, *samples)
    return peak - baseline


@pytest.mark.parametrize("connector", ["gmail", "stripe"])
def test_a_64_mib_download_streams_through_without_growing_memory(make_connection, connector):
    connection = make_connection(connector)
    received = hashlib.sha256()
    size = 0

    def download() -> None:
        nonlocal size
        with connection.call("GET", "big", params={"bytes": str(BODY)}, stream=True) as response:
            assert response.status_code == 200, response.text
            assert response.headers["Content-Length"] == str(BODY)
            assert response.headers["Hub-Proxy-Attempts"] == "1"
            for chunk in response.raw.stream(64 * 1024, decode_content=False):
                size += len(chunk)
                received.update(chunk)

    growth = peak_growth(download)

    assert size == BODY
    assert received.hexdigest() == pattern_sha256(BODY)
    assert growth <= ALLOWED_GROWTH, f"memory grew by {growth / MIB:.1f} MiB"


def _pattern_chunks(total: int) -> Iterator[bytes]:
    block = bytes(range(256)) * 256
    sent = 0
    while sent < total:
        piece = block[: min(len(block), total - sent)]
        sent += len(piece)
        yield piece


def test_a_64_mib_upload_streams_through_without_growing_memory(make_connection):
    connection = make_connection("slack", HUB_PROXY_MAX_BYTES=BODY)
    answers = []

    def upload() -> None:
        answers.append(connection.call("POST", "upload", data=_pattern_chunks(BODY), headers={"Content-Type": "application/octet-stream"}))

    growth = peak_growth(upload)

    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json() == {"bytes": BODY, "sha256": pattern_sha256(BODY)}
    assert growth <= ALLOWED_GROWTH, f"memory grew by {growth / MIB:.1f} MiB"


def test_a_large_upload_is_sent_again_whole_after_a_refresh(make_connection):
    connection = make_connection("gmail", HUB_PROXY_MAX_BYTES=8 * MIB)
    _, before = connection.stored()
    connection.oauth.tokens[before["access_token"]].expires_at = 0

    response = connection.call("POST", "upload", data=_pattern_chunks(5 * MIB))

    assert response.status_code == 200, response.text
    assert response.json() == {"bytes": 5 * MIB, "sha256": pattern_sha256(5 * MIB)}
    assert response.headers["Hub-Proxy-Attempts"] == "2"
    assert [seen.body_size for seen in connection.api.seen] == [5 * MIB, 5 * MIB]
