"""`tfseg inspect [DATA]` (train.py --inspect): a dataset's summary, with the same checks as training,
and its fingerprint (`tfseg.data.fingerprint`)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_config_flags, add_verbose_flag, run
from tfseg.config import HELP_GROUPS, OPTIONS
from tfseg.options import add_flags, overrides_from_flags

DATA_OPTIONS = [spec for spec in OPTIONS if spec.key.startswith("data.") and spec.key != "data.dir" or spec.key == "train.seed"]
"""The data section's options but the folder (the command's argument), and the seed (the split)."""

EXAMPLES = """\
examples:
  tfseg inspect                               # the built-in demo data
  tfseg inspect $DATA --mask-suffix _segmentation
  tfseg inspect $DATA --classes 4 --folds 5 --fold 2
  tfseg inspect --config configs/lung_best.yaml --set data.dir=$DATA
"""
"""The examples at the end of `tfseg inspect --help`."""


def inspect_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of `tfseg inspect`."""
    parser = ArgumentParser(
        prog=prog, usage="%(prog)s [DATA] [--config FILE] [--set KEY=VALUE]... [FLAG]...",
        description="Print a dataset's summary (splits, sizes, modes, mask values) after the checks\n"
                    "training runs, and compute its fingerprint (objects, sizes, intensities; docs/data.md)\n"
                    "once; exit 2 on problems.", epilog=EXAMPLES)
    parser.add_argument("data", nargs="?", metavar="DATA",
                        help="dataset folder (images/, masks/) or CSV manifest (default: the config's, else the demo data)")
    add_config_flags(parser)
    parser.add_argument("--fingerprint", metavar="PATH",
                        help="also write the fingerprint JSON to PATH (default: none; it is cached under "
                             "$TFSEG_CACHE/fingerprints, else ~/.cache/tfseg/fingerprints, and its path printed)")
    add_verbose_flag(parser)
    add_flags(parser, DATA_OPTIONS, HELP_GROUPS)
    return parser


def print_inspection(config, copy_to: str | None = None) -> None:
    """Prints the dataset summary, then the fingerprint's highlights and where it is cached
    (computed first when missing); writes a copy of it to `copy_to` when given."""
    from tfseg.data import dataset_summary, describe_classes, fingerprint_file, fingerprint_path, load_table
    from tfseg.errors import TfsegError
    from tfseg.files import write_atomically

    table = load_table(config.data, config.train.seed, config.sources)
    print(dataset_summary(config, table), flush=True)
    path, started = fingerprint_path(config), time.monotonic()
    cached = path.is_file()
    fingerprint_file(config, table, path=path)
    text = path.read_text(encoding="utf-8")
    for line in describe_classes(json.loads(text)):
        print(f"fingerprint: {line}")
    print(f"fingerprint: {path} ({'cached' if cached else f'computed in {time.monotonic() - started:.1f} s'})")
    if copy_to:
        target = Path(copy_to)
        if target.is_dir():
            raise TfsegError(f"--fingerprint {copy_to}: a folder, expected the path of a JSON file to write")
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"fingerprint: copied to {write_atomically(target, text)}")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg inspect DATA`: prints the dataset summary and fingerprint (`print_inspection`); exit 2 on problems."""
    args = inspect_parser(prog).parse_args(argv)

    def command() -> None:
        from tfseg.config import load_config

        overrides = overrides_from_flags(args, DATA_OPTIONS) | {"data.dir": args.data}
        print_inspection(load_config(args.config, overrides, dict(args.settings)), args.fingerprint)

    return run(command, args.verbose)
