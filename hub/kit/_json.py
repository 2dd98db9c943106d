"""Reading a JSON object from a request body, refusing what later steps cannot store or trust.

`json.loads` alone accepts several things a webhook body must not carry:
`NaN` and `Infinity` (not JSON, and refused by PostgreSQL and most other
parsers), numbers so large they become infinite floats, lone UTF-16
surrogates (`"\\ud800"`, which no UTF-8 encoder will write back out), and
nesting deep enough to exhaust the interpreter's stack. Each is refused
here with a `ValueError` whose message names the problem but quotes nothing
of the body, because the hub shows that message to the sender.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

DEFAULT_MAX_DEPTH = 64

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _NotFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotFinite(text)
    return number


def parse_json_object(body: bytes | str, *, what: str = "the body", max_depth: int = DEFAULT_MAX_DEPTH) -> dict[str, Any]:
    """The JSON object in `body`; ValueError for anything else.

    Refused: bytes that are not UTF-8, text that is not JSON, JSON that is
    not an object, `NaN`/`Infinity` and numbers too large for a float, lone
    surrogates, and objects nested more than `max_depth` levels. `what`
    names the input in the message (`"the Pub/Sub message data"`), which
    is safe to show to the sender.

    >>> parse_json_object(b'{"id": "evt_1", "amount": 5}')
    {'id': 'evt_1', 'amount': 5}
    >>> parse_json_object(b'[1, 2]')
    Traceback (most recent call last):
    ...
    ValueError: the body is not a JSON object
    """
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{what} is not UTF-8") from None
    elif isinstance(body, str):
        text = body
    else:
        raise TypeError("parse_json_object reads bytes or str")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply") from None
    except _NotFinite:
        raise ValueError(f"{what} contains NaN or an infinite number") from None
    except ValueError:  # JSONDecodeError, and integers too long to convert
        raise ValueError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    # Both checks below walk the parsed value; skip the walk when the text
    # shows it cannot fail (fewer brackets than the depth allowed, no
    # surrogate escapes: strict UTF-8 decoding never yields a surrogate).
    too_deep_possible = text.count("{") + text.count("[") > max_depth
    surrogates_possible = _SURROGATE_ESCAPE.search(text) is not None
    if too_deep_possible or surrogates_possible:
        _check_nesting_and_text(value, what, max_depth, surrogates_possible)
    return value


def _check_nesting_and_text(value: dict[str, Any], what: str, max_depth: int, check_text: bool) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"{what} is nested more than {max_depth} levels deep")
        if isinstance(node, dict):
            if check_text and any(_SURROGATE.search(key) for key in node):
                raise ValueError(f"{what} contains a lone surrogate")
            items: Any = node.values()
        else:
            items = node
        for item in items:
            if isinstance(item, dict | list):
                stack.append((item, depth + 1))
            elif check_text and isinstance(item, str) and _SURROGATE.search(item):
                raise ValueError(f"{what} contains a lone surrogate")
