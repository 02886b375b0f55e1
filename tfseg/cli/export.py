"""`tfseg export RUN --format ...` (export.py, tfseg-export): exports a finished run again, in more formats."""

from __future__ import annotations

import argparse
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_former_spelling, add_verbose_flag, print_export_checks, run, threshold
from tfseg.config import EXPORT_FORMATS

EXAMPLES = """\
examples:
  tfseg export runs/demo --format tflite onnx
  tfseg export runs/demo --format onnx --export-batch 1   # a fixed batch of 1
  tfseg export runs/demo --threshold auto     # tuned on the val split
  tfseg export runs/demo --format bioimageio --license CC-BY-4.0 \\
      --author "A. Radiologist"
"""
"""The examples at the end of `tfseg export --help`."""


def export_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of export.py (`--batch`: the former spelling of `--export-batch`)."""
    parser = ArgumentParser(
        prog=prog, usage="%(prog)s RUN_DIR [--format FORMAT...] [FLAG]...",
        description="Export a trained run again (into RUN/export/), and check each export against\nbest.keras.",
        epilog=EXAMPLES)
    parser.add_argument("run_dir", help="run directory written by train.py")
    parser.add_argument("--format", nargs="+", default=[], choices=("savedmodel", *EXPORT_FORMATS), metavar="FORMAT",
                        help="formats to add: savedmodel (always written), " + ", ".join(EXPORT_FORMATS)
                             + "; the run's earlier formats are written again")
    export_batch = parser.add_argument(
        "--export-batch", type=int, metavar="N",
        help="batch dimension of model.onnx: 0 = dynamic (default: the run's train.export_batch)")
    add_former_spelling(parser, "--batch", export_batch)
    parser.add_argument("--threshold", type=threshold, metavar="T|auto",
                        help="binary threshold the model card gives predict.py, or auto: the best mean Dice on the "
                             "val split (default: the current card's)")
    parser.add_argument("--license", default="MIT", help="bioimage.io package: SPDX licence id (default: MIT)")
    parser.add_argument("--author", action="append", metavar="NAME",
                        help="bioimage.io package: an author (repeat for several; default: the placeholder 'tfseg user')")
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg export RUN --format ...`: exports a finished run again, in more formats."""
    args = export_parser(prog).parse_args(argv)

    def command() -> None:
        from tfseg.export.command import export_again
        from tfseg.run import RunDir

        package = {"license": args.license, **({"authors": args.author} if args.author else {})}
        written = export_again(args.run_dir, args.format, args.export_batch, args.threshold, package)
        print_export_checks(args.run_dir)
        print(f"tfseg: exported {', '.join(['savedmodel', *written])} into {RunDir(args.run_dir).export}")

    return run(command, args.verbose)
