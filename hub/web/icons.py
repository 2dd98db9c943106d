"""Connector icons: the plain shapes of an SVG a connector ships, or nothing.

An icon comes from third-party code and is served from the hub's origin, so
it is rebuilt from an allow-list: shape elements and their geometry and
paint attributes only. No script, no style, no event handler, no link or
`href` (not even to a fragment), no foreign content, no entity: anything
else refuses the whole icon and the page shows the name's initial instead.
The Connect page shows it through `<img>`, where an SVG runs nothing anyway.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

MAX_ICON_BYTES = 16 * 1024
SVG_NS = "http://www.w3.org/2000/svg"
ELEMENTS = frozenset({"svg", "g", "path", "circle", "ellipse", "rect", "line", "polyline", "polygon", "title", "desc"})
ATTRIBUTES = frozenset({
    "viewBox", "width", "height", "d", "cx", "cy", "r", "rx", "ry", "x", "y", "x1", "y1", "x2", "y2", "points",
    "fill", "fill-rule", "fill-opacity", "clip-rule", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin",
    "stroke-opacity", "opacity", "transform",
})
# Paint is a colour or `none`, never `url(...)`, which would reach for another resource.
PAINT = re.compile(r"none|currentColor|#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\([0-9., %]+\)")
GEOMETRY = re.compile(r"[0-9a-zA-Z.,+\- ()]*")


def sanitised_icon(source: str) -> str | None:
    """The icon rebuilt from its allowed parts, or None when anything else is in it."""
    if not source or len(source.encode()) > MAX_ICON_BYTES or "<!" in source or "<?" in source.lstrip()[2:]:
        return None
    try:
        root = ElementTree.fromstring(source)
    except ElementTree.ParseError:
        return None
    if _local(root.tag) != "svg":
        return None
    rebuilt = _rebuild(root)
    if rebuilt is None:
        return None
    rebuilt.set("xmlns", SVG_NS)
    return ElementTree.tostring(rebuilt, encoding="unicode")


def _local(tag: str) -> str | None:
    namespace, _, name = tag.rpartition("}")
    if namespace and namespace != "{" + SVG_NS:
        return None
    return name


def _rebuild(element: ElementTree.Element) -> ElementTree.Element | None:
    name = _local(element.tag)
    if name not in ELEMENTS:
        return None
    copy = ElementTree.Element(name)
    for attribute, value in element.attrib.items():
        if attribute not in ATTRIBUTES:
            return None
        pattern = PAINT if attribute in ("fill", "stroke") else GEOMETRY
        if not pattern.fullmatch(value.strip()):
            return None
        copy.set(attribute, value)
    if name in ("title", "desc"):
        copy.text = (element.text or "")[:200]
    elif (element.text or "").strip():
        return None
    for child in element:
        if (child.tail or "").strip():
            return None
        rebuilt = _rebuild(child)
        if rebuilt is None:
            return None
        copy.append(rebuilt)
    return copy
