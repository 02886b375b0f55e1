"""`tfseg inspect [DATA]` (train.py --inspect): a dataset's summary, with the same checks as training."""

from __future__ import annotations

import argparse
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
                    "training runs; exit 2 on problems.", epilog=EXAMPLES)
    parser.add_argument("data", nargs="?", metavar="DATA",
                        help="dataset folder (images/, masks/) or CSV manifest (default: the config's, else the demo data)")
    add_config_flags(parser)
    add_verbose_flag(parser)
    add_flags(parser, DATA_OPTIONS, HELP_GROUPS)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg inspect DATA`: prints the dataset summary (`tfseg.data.dataset_summary`); exit 2 on problems."""
    args = inspect_parser(prog).parse_args(argv)

    def command() -> None:
        from tfseg.config import load_config
        from tfseg.data import dataset_summary

        overrides = overrides_from_flags(args, DATA_OPTIONS) | {"data.dir": args.data}
        print(dataset_summary(load_config(args.config, overrides, dict(args.settings))))

    return run(command, args.verbose)
