"""The encoders' ImageNet weights files: where each comes from, the cache that holds them, the download.

`--encoder-weights imagenet` reads the encoder's published file (`EncoderSpec.imagenet_files`)
from the cache `keras.utils.get_file` keeps, `$KERAS_HOME/models` (else `~/.keras/models`),
so `keras.applications` and tfseg share the files. A file not there is downloaded on first
use from its URL, or from a mirror (`$TFSEG_WEIGHTS_MIRROR`: a base URL or a folder holding
the same file names), checked against its published MD5 or SHA-256 where there is one, and
renamed into the cache only when complete and matching. `tfseg weights download` fills the
cache ahead of an offline training.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tfseg.errors import TfsegError
from tfseg.files import atomic_path, file_digest

MIRROR_VARIABLE = "TFSEG_WEIGHTS_MIRROR"
"""Where to download weights files from instead of their URLs: a base URL or a folder of the same file names."""


@dataclass(frozen=True)
class WeightsFile:
    """One published weights file of an encoder.

    Attributes:
        name: str. The file name, in the cache and on a mirror.
        url: str. Where it is published.
        file_hash: str or None. Its MD5 (32 hex digits) or SHA-256 (64); None where the
            publisher gives none (MobileNetV2).
        input_size: int or None. The square input size these weights are for (MobileNetV2
            has one file per size, as `keras.applications` picks them); None: any other size.
    """

    name: str
    url: str
    file_hash: str | None
    input_size: int | None = None


def cache_dir() -> Path:
    """The folder of downloaded weights files: `$KERAS_HOME/models`, else `~/.keras/models` (Keras' cache)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"


def hash_mismatch(path: str | Path, expected: str | None) -> str | None:
    """None if the file's MD5 or SHA-256 (by the length of `expected`) is `expected` or there
    is no `expected`; else what differs, e.g. "md5 0123… where 4d47… was published"."""
    if not expected:
        return None
    algorithm = "md5" if len(expected) == 32 else "sha256"
    actual = file_digest(path, algorithm)
    return None if actual == expected.lower() else f"{algorithm} {actual} where {expected} was published"


def source(file: WeightsFile, mirror: str | None = None) -> str:
    """The URL to download `file` from: `mirror` (else `$TFSEG_WEIGHTS_MIRROR`) + its name, else its own URL."""
    mirror = mirror or os.environ.get(MIRROR_VARIABLE)
    if not mirror:
        return file.url
    if "://" in mirror:
        return f"{mirror.rstrip('/')}/{file.name}"
    if not Path(mirror).is_dir():
        raise TfsegError(f"weights mirror {mirror!r} ({MIRROR_VARIABLE} or --mirror): expected a URL or a folder")
    return (Path(mirror).resolve() / file.name).as_uri()


def _fetch(file: WeightsFile, url: str) -> Path:
    """Downloads `url` into the cache as `file.name`, atomically, if its hash matches; the reason it failed otherwise."""
    target = cache_dir() / file.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as temporary:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(temporary, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        except urllib.error.HTTPError as error:
            raise TfsegError(f"{url}: HTTP {error.code} {error.reason}") from None
        except urllib.error.URLError as error:
            raise TfsegError(f"{url}: {error.reason}") from None
        except OSError as error:  # a timeout or a broken connection midway
            raise TfsegError(f"{url}: {error}") from None
        mismatch = hash_mismatch(temporary, file.file_hash)
        if mismatch:
            raise TfsegError(f"{url} has {mismatch} (a corrupt or wrong file; not cached)")
    return target


def download(file: WeightsFile, mirror: str | None = None) -> Path:
    """Downloads `file` into the cache (from `source(file, mirror)`) and returns its path.

    Raises:
        TfsegError: naming the file: the download failed, or its hash is not the published
            one (then nothing is cached).
    """
    try:
        return _fetch(file, source(file, mirror))
    except TfsegError as error:
        raise TfsegError(f"{file.name}: {error}") from None


def cached(file: WeightsFile) -> Path | None:
    """The path of `file` in the cache if it is there and matches its published hash, else None."""
    path = cache_dir() / file.name
    return path if path.is_file() and hash_mismatch(path, file.file_hash) is None else None


def imagenet_path(encoder: str, file: WeightsFile) -> Path:
    """The cached `file` of `encoder`, downloaded first if it is not cached (or does not match its hash).

    Raises:
        TfsegError: not cached and the download failed: one line saying which file to put where.
    """
    path = cached(file)
    if path is not None:
        return path
    try:
        return _fetch(file, source(file))
    except TfsegError as error:
        raise TfsegError(
            f"{encoder}: ImageNet weights not cached and cannot be downloaded ({error}); on a machine with "
            f"internet run 'tfseg weights download {encoder}', or put {file.url} at {cache_dir() / file.name}"
        ) from None
