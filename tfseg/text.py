"""Text for people: how long something took or may take."""

from __future__ import annotations

import re

from tfseg.errors import TfsegError

DEFAULT_BUDGET = "30m"
"""The time budget of a plan when `--budget` is not given."""

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def format_duration(seconds: float) -> str:
    """`41 s`, `4 min 12 s`, `30 min`, `1 h 03 min`, `2 h` (training's summary, the plan's budget)."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min" + (f" {seconds % 60:02d} s" if seconds % 60 else "")
    return f"{seconds // 3600} h" + (f" {seconds % 3600 // 60:02d} min" if seconds % 3600 // 60 else "")


def parse_budget(text: str) -> float:
    """Seconds of a `--budget` duration such as `90s`, `30m`, `2h` or `1h30m`.

    Raises:
        TfsegError: anything else, naming --budget and the form expected.
    """
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or not match or not any(match.groups()):
        raise TfsegError(f"--budget {text!r}: expected a duration such as 90s, 30m, 2h or 1h30m")
    hours, minutes, seconds = (float(group or 0) for group in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise TfsegError(f"--budget {text!r}: expected a duration above zero, such as 90s, 30m, 2h or 1h30m")
    return total
