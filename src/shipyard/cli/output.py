"""Printing objects the way kubectl does: tables, ``-o yaml|json|name|wide``, ``describe``.

Tables are plain text with columns separated by three spaces and headers in capitals, so
scripts that parse kubectl output parse ours. Ages follow kubectl's rounding (``45s``,
``5m30s``, ``3h``, ``2d5h``, ``400d``, ``3y20d``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from shipyard.core.clock import parse_time
from shipyard.core.objects import Obj, meta
from shipyard.store.scheme import KindInfo

__all__ = [
    "describe",
    "format_objects",
    "human_age",
    "render_table",
]

Column = tuple[str, Callable[[Obj], str]]


def human_age(seconds: float) -> str:
    """kubectl's short human duration."""
    if seconds < -1:
        return "<invalid>"
    s = max(0, int(seconds))
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        return _pair(minutes, "m", s % 60, "s")
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return _pair(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return _pair(days, "d", hours % 24, "h")
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return _pair(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _pair(major: int, major_unit: str, minor: int, minor_unit: str) -> str:
    return f"{major}{major_unit}" if minor == 0 else f"{major}{major_unit}{minor}{minor_unit}"


def age_of(obj: Obj, now: float) -> str:
    created = meta(obj).get("creationTimestamp")
    if not created:
        return "<unknown>"
    try:
        return human_age(now - parse_time(str(created)))
    except ValueError:
        return "<unknown>"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, three spaces apart, as kubectl's tabwriter prints them."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def _columns(info: KindInfo, wide: bool) -> tuple[list[Column], list[Column]]:
    """(columns before AGE, wide-only columns after it); wide headers end in "*" in KindInfo."""
    normal = [c for c in info.columns if not c[0].endswith("*")]
    extra = [(h.rstrip("*"), fn) for h, fn in info.columns if h.endswith("*")] if wide else []
    return normal, extra


def table_for(
    info: KindInfo,
    objs: Sequence[Obj],
    *,
    now: float,
    wide: bool,
    all_namespaces: bool,
    with_kind: bool,
) -> str:
    """kubectl's table: [NAMESPACE] NAME <columns> AGE <wide columns>."""
    normal, extra = _columns(info, wide)
    headers = ["NAME", *[h for h, _ in normal], "AGE", *[h for h, _ in extra]]
    show_ns = all_namespaces and info.namespaced
    if show_ns:
        headers.insert(0, "NAMESPACE")
    rows = []
    for obj in objs:
        name = meta(obj).get("name", "")
        if with_kind:
            name = f"{info.singular}{'.' + info.group if info.group else ''}/{name}"
        row = [name, *[_cell(fn, obj) for _, fn in normal], age_of(obj, now)]
        row += [_cell(fn, obj) for _, fn in extra]
        if show_ns:
            row.insert(0, meta(obj).get("namespace", ""))
        rows.append(row)
    return render_table(headers, rows)


def _cell(fn: Callable[[Obj], str], obj: Obj) -> str:
    try:
        value = fn(obj)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return "<unknown>"
    return value if value not in (None, "") else "<none>"


def format_objects(objs: Sequence[Obj], output: str) -> str:
    """``-o yaml|json|name``: one object as itself, several as a ``List``."""
    if output == "name":
        return "\n".join(f"{o['kind'].lower()}/{meta(o).get('name', '')}" for o in objs)
    doc: Any = (
        objs[0]
        if len(objs) == 1
        else {
            "apiVersion": "v1",
            "kind": "List",
            "items": list(objs),
            "metadata": {"resourceVersion": ""},
        }
    )
    if output == "json":
        return json.dumps(doc, indent=4, sort_keys=True)
    return yaml.safe_dump(
        doc, sort_keys=True, default_flow_style=False, allow_unicode=True
    ).rstrip()


def describe(obj: Obj, events: Sequence[Obj], *, now: float) -> str:
    """A kubectl-describe-like view: metadata first, then spec and status, then events."""
    md = meta(obj)
    lines = [f"Name:         {md.get('name', '')}"]
    if md.get("namespace"):
        lines.append(f"Namespace:    {md['namespace']}")
    lines.append(_map_field("Labels:", md.get("labels")))
    lines.append(_map_field("Annotations:", _short_annotations(md.get("annotations"))))
    lines.append(f"API Version:  {obj.get('apiVersion', '')}")
    lines.append(f"Kind:         {obj.get('kind', '')}")
    lines.append(f"Created:      {md.get('creationTimestamp', '<unknown>')}")
    if md.get("deletionTimestamp"):
        lines.append(f"Deleting:     since {md['deletionTimestamp']}")
    if md.get("ownerReferences"):
        owners = ", ".join(f"{o.get('kind')}/{o.get('name')}" for o in md["ownerReferences"])
        lines.append(f"Controlled By:  {owners}")
    for section in ("spec", "status", "data"):
        if obj.get(section):
            lines.append(f"{section.capitalize()}:")
            lines.extend(_nested(obj[section], 1))
    lines.append(_events_section(events, now))
    return "\n".join(lines)


def _short_annotations(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {
        k: v for k, v in value.items() if k != "kubectl.kubernetes.io/last-applied-configuration"
    }


def _map_field(title: str, value: Any) -> str:
    if not value:
        return f"{title.ljust(13)} <none>"
    items = [f"{k}={v}" for k, v in sorted(value.items())]
    pad = " " * 14
    return f"{title.ljust(13)} " + f"\n{pad}".join(items)


def _nested(value: Any, depth: int) -> list[str]:
    pad = "  " * depth
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            label = _title(str(key))
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{label}:")
                out.extend(_nested(item, depth + 1))
            else:
                out.append(f"{pad}{label}:  {_scalar(item)}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            sub = _nested(item, depth + 1)
            if sub and isinstance(item, (dict, list)):
                out.append(f"{pad}- {sub[0].strip()}")
                out.extend(sub[1:])
            else:
                out.append(f"{pad}- {_scalar(item)}")
        return out
    return [f"{pad}{_scalar(value)}"]


def _title(key: str) -> str:
    """camelCase -> Camel Case, as describe prints field names."""
    words, current = [], ""
    for ch in key:
        if ch.isupper() and current and not current[-1].isupper():
            words.append(current)
            current = ch
        else:
            current += ch
    words.append(current)
    return " ".join(w[:1].upper() + w[1:] for w in words if w)


def _scalar(value: Any) -> str:
    if value is None or value in ({}, []):
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _events_section(events: Sequence[Obj], now: float) -> str:
    if not events:
        return "Events:       <none>"
    rows = []
    for ev in events:
        last = ev.get("lastTimestamp") or ev.get("eventTime") or meta(ev).get("creationTimestamp")
        age = human_age(now - parse_time(str(last))) if last else "<unknown>"
        source = (
            ev.get("source", {}).get("component", "") if isinstance(ev.get("source"), dict) else ""
        )
        rows.append(
            [
                str(ev.get("type", "")),
                str(ev.get("reason", "")),
                age,
                source,
                str(ev.get("message", "")),
            ]
        )
    table = render_table(["Type", "Reason", "Age", "From", "Message"], rows)
    return "Events:\n" + "\n".join(f"  {line}" for line in table.splitlines())
