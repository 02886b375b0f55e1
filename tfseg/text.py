"""Text for people: how long something took or may take."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """`41 s`, `4 min 12 s`, `30 min`, `1 h 03 min`, `2 h` (training's summary, the plan's budget)."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min" + (f" {seconds % 60:02d} s" if seconds % 60 else "")
    return f"{seconds // 3600} h" + (f" {seconds % 3600 // 60:02d} min" if seconds % 3600 // 60 else "")
