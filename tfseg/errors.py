"""The one exception type that the command line turns into a one-line error, and the
"did you mean" advice such an error gives for a misspelt name."""

import difflib
import os
import re
from collections.abc import Iterable


class TfsegError(ValueError):
    """A user-facing error: bad input, option or file, described in one line."""


class TrainingStopped(Exception):
    """Training ended early on SIGTERM or SIGINT, with the last epoch's state saved.

    Attributes:
        exit_code: int. 128 + the signal number, as a shell reports a process ended by it.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def normalise_name(name: str) -> str:
    """`name` in the one spelling suggestions compare: lower case, without `-` and `_`, the
    spellings of segmentation_models.pytorch and keras.applications mapped to tfseg's
    (`efficientnet-b3` → `effb3`, `efficientnetv2-s` → `effv2s`, `mobilenet_v2` →
    `mobilenetv2`, `mobilenetv3_large` → `mobilenetv3large`, `timm-regnety_002` →
    `regnety002`, `UnetPlusPlus` → `unetpp`, `HorizontalFlip` → `horizontalflip`).
    """
    text = re.sub(r"(^|[-_])(timm|tu)[-_]", r"\1", name.strip().lower())  # smp's timm-/tu- encoders
    text = re.sub(r"[-_]", "", text)
    return text.replace("efficientnet", "eff").replace("plusplus", "pp")


def close_names(given: str, valid: Iterable[str], limit: int = 3) -> list[str]:
    """Up to `limit` names of `valid` closest to `given`, best first: only those equal to it
    once both are normalised (`normalise_name`); when none is equal, those whose normalised
    spellings have a `difflib` ratio of at least 0.6 (as `difflib.get_close_matches`), ties
    going to the longer common prefix (`resnet35` → `resnet34` before `resnet50`). Empty when
    nothing is close.
    """
    by_normal: dict[str, list[str]] = {}
    for name in valid:
        by_normal.setdefault(normalise_name(name), []).append(name)
    wanted = normalise_name(given)
    if wanted in by_normal:
        return by_normal[wanted][:limit]
    scored = []
    for normal in by_normal:
        ratio = difflib.SequenceMatcher(None, wanted, normal).ratio()
        if ratio >= 0.6:
            prefix = len(os.path.commonprefix([wanted, normal]))
            scored.append((-ratio, -prefix, normal))
    return [name for *_, normal in sorted(scored) for name in by_normal[normal]][:limit]


def did_you_mean(given: str, valid: Iterable[str], limit: int = 3, end: str = "") -> str:
    """`"did you mean unet_resnet34?"` (or `"did you mean a, b or c?"`) for the names of
    `valid` closest to `given`, written as `valid` writes them (flags as flags, YAML keys as
    YAML keys), then `end` (`" "` to put it before more text); `""` when none is close.
    """
    names = close_names(given, valid, limit)
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f"did you mean {listed}?{end}"
