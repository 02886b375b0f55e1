"""The HTML pages a person browses: an evaluation's report.html, a study's report.html and
predict.py's index.html, rendered from the Jinja2 templates in `templates/`.

Every page is one file that needs no server and no network: its CSS and JavaScript are
inline, its pictures are files in a folder beside it (or, for a few small figures, data
URIs). A gallery shows a thumbnail of each picture (`THUMBNAIL_SIDE` pixels) that links to
the picture at full resolution; its cards can be sorted by any value they carry, filtered
by a range of one value and, when they have groups (the classes of a multi-class
evaluation), by group.
"""

from __future__ import annotations

import base64
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import cv2
import jinja2
import numpy as np

from tfseg.files import write_atomically

THUMBNAIL_SIDE = 160
"""The longer side, in pixels, of a gallery's thumbnails."""
JPEG_OPTIONS = [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
"""How pictures are written as JPEG: quality 90, colour at every pixel (thin coloured outlines stay sharp)."""


@dataclass
class Column:
    """A value the cards of a gallery carry: its key, its heading, how it is printed (a format
    spec such as ".4f") and whether the cards print it (every value sorts and filters)."""

    key: str
    label: str
    format: str = ".4f"
    shown: bool = True


@dataclass
class Card:
    """One picture of a gallery: its title, the URLs (relative to the page) of its thumbnail
    and of its full-resolution picture, its values by column key, and its group ("" when
    the gallery has none)."""

    title: str
    thumbnail: str
    full: str
    values: dict[str, float] = field(default_factory=dict)
    group: str = ""


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("tfseg.pages", "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    environment.filters["number"] = format_number
    environment.filters["data_value"] = data_value
    return environment


def format_number(value: float | None, spec: str = ".4f") -> str:
    """A value as a page prints it: `format(value, spec)`, or "–" for a missing one (None, NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def data_value(value: float | None) -> str:
    """A value as a `data-` attribute holds it for sorting and filtering: all its digits, or "" for a missing one."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


def render_page(template: str, **context) -> str:
    """The HTML of `templates/<template>` rendered with `context` (autoescaped; an undefined name
    raises); `thumbnail_side` is `THUMBNAIL_SIDE` unless given."""
    return _environment().get_template(template).render(**{"thumbnail_side": THUMBNAIL_SIDE, **context})


def write_page(path: str | Path, template: str, **context) -> Path:
    """Renders `template` with `context` (see `render_page`) into `path`, atomically."""
    return write_atomically(path, render_page(template, **context))


def url(path: str | Path) -> str:
    """A relative file path as a page links to it: '/'-separated, each part %-quoted."""
    return quote(Path(path).as_posix())


def thumbnail_size(height: int, width: int, side: int = THUMBNAIL_SIDE) -> tuple[int, int]:
    """(height, width) of a picture scaled so that its longer side is `side` (never enlarged)."""
    scale = min(1.0, side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_picture(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An image resized to (height, width) by pixel-area averaging (unchanged if it has that size)."""
    if image.shape[:2] == tuple(size):
        return image
    resized = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return resized[..., None] if image.ndim == 3 and resized.ndim == 2 else resized


def save_picture(path: str | Path, rgb: np.ndarray) -> Path:
    """Writes an (H, W, 3) uint8 RGB picture as PNG or JPEG (by the suffix; JPEG with `JPEG_OPTIONS`)."""
    options = JPEG_OPTIONS if Path(path).suffix.lower() in (".jpg", ".jpeg") else []
    written = cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), options)
    if not written:
        raise OSError(f"could not write {path}")
    return Path(path)


def data_uri(path: str | Path) -> str:
    """A small PNG file as a `data:` URI, to embed it in a page."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
