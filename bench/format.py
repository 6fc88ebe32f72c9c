"""Number formatting, in one place: the HTML report, the terminal summary and compare."""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any


def fmt_time(value: float | None, missing: str = "–") -> str:
    """Seconds, three significant figures, in s / ms / µs; `missing` for no value (compare's table uses "-")."""
    if value is None or not math.isfinite(value):
        return missing
    magnitude = abs(value)
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.3g} s" if magnitude < 1000 else f"{value:,.0f} s"
    if magnitude >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} µs"


def fmt_rate(value: float | None) -> str:
    """Events per second: whole numbers with thousands separators, 3 s.f. below 100."""
    if value is None or not math.isfinite(value):
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_seconds_tick(value: float) -> str:
    """A chart axis tick in seconds: as fmt_time, but all of the tick's digits and "0" at or below zero."""
    if value <= 0 or not math.isfinite(value):
        return "0"
    if value >= 1:
        return f"{value:g} s"
    if value >= 1e-3:
        return f"{value * 1e3:g} ms"
    return f"{value * 1e6:g} µs"


def fmt_compact(value: Any) -> str:
    """A count in few characters for labels and axis ticks: 500, 2k, 1.5M; non-numbers as they are."""
    if not isinstance(value, (int, float)):
        return str(value)
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= div:
            return f"{value / div:g}{suffix}"
    return f"{value:g}"


def fmt_ratio(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if value >= 1000:
        return f"{value:,.0f}×"
    return f"{value:.3g}×"


def fmt_pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * 100:.1f}%"


def fmt_int(value: Any) -> str:
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


def fmt_bytes(value: Any) -> str:
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if number >= size:
            return f"{number / size:.1f} {unit}"
    return f"{number:.0f} B"


def fmt_speedup(value: float | None) -> str:
    """A speed-up in words a reader cannot misread: '17× faster', '508× slower', 'same'."""
    if value is None or not math.isfinite(value) or value <= 0:
        return "–"
    if 0.995 <= value < 1.005:
        return "1.00×"
    if value >= 1:
        return f"{fmt_ratio(value)} faster"
    return f"{fmt_ratio(1 / value)} slower"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
