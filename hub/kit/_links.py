"""`Link` header paging (RFC 8288), as GitHub, GitLab and many REST APIs page their lists.

`Link: <https://api.github.com/repositories/1/issues?page=2>; rel="next", <...?page=5>; rel="last"`

A naive `split(",")` breaks on commas inside URLs and quoted parameters;
this parser follows the RFC's grammar, skips an element it cannot read
instead of failing the whole header, and runs in linear time whatever the
header holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)
_WHITESPACE = " \t"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Link:
    """One link of a `Link` header.

    url: the target as written (resolve it against the request URL; see
    `next_page_url`). rel: the relation types, lower-cased (`rel="next
    last"` is both). params: the other parameters by lower-cased name,
    unquoted; the first occurrence of a name wins.
    """

    url: str
    rel: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)


def _skip(text: str, i: int, chars: str) -> int:
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def _next_element(text: str, i: int) -> int:
    """The index of the comma that ends the element at `i` (or the end), skipping URLs and quoted strings."""
    while i < len(text):
        c = text[i]
        if c == ",":
            return i
        if c == "<":
            end = text.find(">", i + 1)
            i = len(text) if end < 0 else end + 1
        elif c == '"':
            quoted = _QUOTED.match(text, i)
            i = len(text) if quoted is None else quoted.end()
        else:
            i += 1
    return i


def _link_at(text: str, i: int) -> tuple[Link | None, int]:
    """The link starting at `<` at index `i`, and where parsing stopped; None for a malformed element."""
    end = text.find(">", i + 1)
    if end < 0:
        return None, len(text)
    url = text[i + 1 : end].strip()
    params: dict[str, str] = {}
    i = end + 1
    while True:
        i = _skip(text, i, _WHITESPACE)
        if i >= len(text) or text[i] == ",":
            break
        if text[i] != ";":
            return None, _next_element(text, i)
        i = _skip(text, i + 1, _WHITESPACE)
        name = _TOKEN.match(text, i)
        if name is None:
            return None, _next_element(text, i)
        i = _skip(text, name.end(), _WHITESPACE)
        value = ""
        if i < len(text) and text[i] == "=":
            i = _skip(text, i + 1, _WHITESPACE)
            quoted = _QUOTED.match(text, i)
            token = None if quoted else _TOKEN.match(text, i)
            if quoted is not None:
                value, i = _ESCAPE.sub(r"\1", quoted.group(1)), quoted.end()
            elif token is not None:
                value, i = token.group(0), token.end()
            else:
                return None, _next_element(text, i)
        params.setdefault(name.group(0).lower(), value)
    if not url:
        return None, i
    rel = tuple(params.pop("rel", "").lower().split())
    return Link(url=url, rel=rel, params=params), i


def parse_link_header(value: str | None) -> list[Link]:
    """The links of a `Link` header, in order; elements that do not parse are left out.

    >>> links = parse_link_header('<https://x.test/items?page=2>; rel="next", <https://x.test/items?page=9>; rel=last')
    >>> [(link.url, link.rel) for link in links]
    [('https://x.test/items?page=2', ('next',)), ('https://x.test/items?page=9', ('last',))]
    """
    links: list[Link] = []
    if not value:
        return links
    i = 0
    while i < len(value):
        i = _skip(value, i, _WHITESPACE + ",")
        if i >= len(value):
            break
        if value[i] != "<":
            i = _next_element(value, i)
            continue
        link, i = _link_at(value, i)
        if link is not None:
            links.append(link)
    return links


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not parts.hostname or port is None or "@" in parts.netloc:
        return None
    return scheme, parts.hostname, port


def next_page_url(link_header: str | None, *, current_url: str) -> str | None:
    """The absolute URL of the `rel="next"` link, or None on the last page.

    `current_url` is the URL of the page just fetched (`response.url`): a
    relative link is resolved against it, and a next page on another
    origin (scheme, host or port) or with a user name in it is refused with
    ValueError, because the session that follows it carries the
    integration's token. Links with an `anchor` parameter describe another
    resource and are not followed.

    >>> next_page_url('</items?page=3>; rel="next"', current_url="https://x.test/items?page=2")
    'https://x.test/items?page=3'
    >>> next_page_url('<https://x.test/items?page=1>; rel="prev"', current_url="https://x.test/items?page=2") is None
    True
    """
    for link in parse_link_header(link_header):
        if "next" not in link.rel or "anchor" in link.params:
            continue
        target = urljoin(current_url, link.url)
        here = _origin(current_url)
        if here is None or _origin(target) != here:
            raise ValueError("the next page link points away from the API's origin")
        return target
    return None
