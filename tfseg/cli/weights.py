"""`tfseg weights list|download`: the encoders' ImageNet weights files in Keras' cache, for offline training."""

from __future__ import annotations

import argparse
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_verbose_flag, run


def _selected(names: Sequence[str]) -> list[tuple[str, object]]:
    """(encoder, WeightsFile) for every file of the named encoders (all of them for none or `all`)."""
    from tfseg.models.encoders import ENCODERS, get_spec

    encoders = list(ENCODERS) if not names or "all" in names else list(dict.fromkeys(names))
    return [(encoder, file) for encoder in encoders for file in get_spec(encoder).imagenet_files]


def _megabytes(path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def print_weights(names: Sequence[str]) -> None:
    """Prints the cache folder, then per weights file: the encoder (and the input size it is
    for, if only one), the file name, its size if cached, and its URL."""
    from tfseg.models.imagenet_weights import cache_dir

    rows = [("encoder", "file", "cached", "url")]
    for encoder, file in _selected(names):
        path = cache_dir() / file.name
        for_size = f" ({file.input_size}×{file.input_size})" if file.input_size else ""
        rows.append((encoder + for_size, file.name, _megabytes(path) if path.is_file() else "no", file.url))
    cached = sum(row[2] != "no" for row in rows[1:])
    print(f"tfseg: weights cache {cache_dir()} (set KERAS_HOME to move it): {cached} of {len(rows) - 1} files cached")
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print("  ".join(text.ljust(width) for text, width in zip(row, widths)) + "  " + row[3])


def download_weights(names: Sequence[str], mirror: str | None) -> None:
    """Downloads the named encoders' weights files that are not cached (or do not match their
    hash) into the cache, each checked against its published hash."""
    from tfseg.models.imagenet_weights import cached, download, source

    for encoder, file in _selected(names):
        path = cached(file)
        if path is not None:
            print(f"tfseg: {encoder}: {path} is cached ({_megabytes(path)})")
            continue
        print(f"tfseg: {encoder}: downloading {source(file, mirror)}", flush=True)
        path = download(file, mirror)
        checked = "hash checked" if file.file_hash else "no published hash to check"
        print(f"tfseg: {encoder}: {path} ({_megabytes(path)}, {checked})")


EXAMPLES = """\
examples:
  tfseg weights list                          # every encoder: file, cached or not, URL
  tfseg weights download resnet34 effb3       # on a machine with internet
  tfseg weights download all --mirror /mnt/weights
"""
"""The examples at the end of `tfseg weights --help`."""


def weights_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of `tfseg weights list|download`."""
    parser = ArgumentParser(
        prog=prog, epilog=EXAMPLES,
        description="The encoders' ImageNet weights files (--encoder-weights imagenet) in Keras' cache,\n"
                    "$KERAS_HOME/models (default ~/.keras/models). To train offline: run `tfseg weights\n"
                    "download ENCODER` on a machine with internet and copy the files it names into the\n"
                    "same folder here; or keep the files in a folder or on an internal web server and set\n"
                    "TFSEG_WEIGHTS_MIRROR to it (training then downloads from there).")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="each encoder's weights file, whether it is cached, and its URL")
    listing.add_argument("encoders", nargs="*", metavar="ENCODER", help="encoders to list (default: all)")
    fetch = actions.add_parser("download", help="download weights files into the cache, hash-checked")
    fetch.add_argument("encoders", nargs="+", metavar="ENCODER", help="encoders (see `tfseg models`), or all")
    fetch.add_argument("--mirror", metavar="URL_OR_DIR",
                       help="download from this base URL or folder of the same file names instead of the "
                            "published URLs (default: $TFSEG_WEIGHTS_MIRROR, else the published URLs)")
    for action in (listing, fetch):
        add_verbose_flag(action)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg weights list [ENCODER...]` / `tfseg weights download ENCODER...|all [--mirror URL_OR_DIR]`."""
    args = weights_parser(prog).parse_args(argv)
    if args.action == "list":
        return run(lambda: print_weights(args.encoders), args.verbose)
    return run(lambda: download_weights(args.encoders, args.mirror), args.verbose)
