"""A proxied request body: streamed to the provider as it arrives, and kept for a retry.

The caller's body is never held in memory whole: each chunk goes on to the
provider as soon as it is read, and into a spool (memory up to 1 MiB, a
temporary file past that) so that a retry (after a 401 and a token refresh,
or a 429/503 with `Hub-Retries`) can send the same bytes again. The limit
(`HUB_PROXY_MAX_BYTES`) is checked as the bytes arrive, so a chunked body
without Content-Length is cut off at the limit, not after it was stored.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from hub.errors import PayloadTooLarge

CHUNK_BYTES = 64 * 1024
SPOOL_IN_MEMORY_BYTES = 1024 * 1024


class _Sized:
    """Chunks with a known total, so requests sends Content-Length instead of chunked encoding."""

    def __init__(self, chunks: Iterator[bytes], length: int) -> None:
        self._chunks = chunks
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def __len__(self) -> int:
        return self._length


class ReplayableBody:
    """The caller's body for each attempt of one proxied call."""

    def __init__(self, stream: IO[bytes] | Any, length: int | None, limit: int) -> None:
        if length is not None and length > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        self._stream = stream
        self._length = length
        self._limit = limit
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
        self._received = 0
        self._finished = length == 0

    @classmethod
    def of_bytes(cls, data: bytes) -> "ReplayableBody":
        """A body already in memory (in-process callers); replayed from the spool."""
        return cls(io.BytesIO(data), len(data), max(len(data), 0))

    def attempt(self) -> Iterable[bytes] | bytes | None:
        """What to hand requests for one attempt: the same bytes every time."""
        if self._length == 0:
            return b""
        if self._length is None and self._finished and self._received == 0:
            return b""
        chunks = self._chunks()
        return _Sized(chunks, self._length) if self._length is not None else chunks

    def close(self) -> None:
        self._spool.close()

    def _chunks(self) -> Iterator[bytes]:
        offset = 0
        while offset < self._received:
            self._spool.seek(offset)
            chunk = self._spool.read(min(CHUNK_BYTES, self._received - offset))
            if not chunk:
                break
            offset += len(chunk)
            yield chunk
        while not self._finished:
            wanted = CHUNK_BYTES if self._length is None else min(CHUNK_BYTES, self._length - self._received)
            chunk = self._stream.read(wanted) if wanted > 0 else b""
            if not chunk:
                self._finished = True
                break
            self._received += len(chunk)
            if self._received > self._limit:
                raise PayloadTooLarge(f"The body is larger than {self._limit} bytes.")
            self._spool.seek(0, 2)
            self._spool.write(chunk)
            yield chunk
