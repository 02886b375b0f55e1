"""`tfseg evaluate RUN_DIR ...` (evaluate.py, tfseg-evaluate): evaluates a run on a split."""

from __future__ import annotations

import argparse
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_inference_flags, add_verbose_flag, positive_int, run, threshold

EXAMPLES = """\
examples:
  tfseg evaluate runs/demo                    # its test split
  tfseg evaluate runs/demo --split val --threshold auto --tta flip
  tfseg evaluate runs/demo --data $DATA --spacing 0.5 0.5 --out eval-other
  tfseg evaluate runs/seed0 --ensemble runs/seed1 runs/seed2
"""
"""The examples at the end of `tfseg evaluate --help`."""


def evaluate_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of evaluate.py."""
    parser = ArgumentParser(
        prog=prog, usage="%(prog)s RUN_DIR [FLAG]...", epilog=EXAMPLES,
        description="Evaluate a trained tfseg run on a split: per-image scores, a report, pictures.")
    parser.add_argument("run_dir", help="run directory written by train.py")
    parser.add_argument("--data", metavar="DIR|CSV", help="dataset (default: the one the run was trained on)")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"], help="(default: test)")
    parser.add_argument("--batch-size", type=positive_int, metavar="N",
                        help="images (or windows) per forward pass (default: the run's train.batch_size)")
    parser.add_argument("--threshold", type=threshold, default=0.5, metavar="T|auto",
                        help="binary threshold, or auto: the best mean Dice on the val split (default: 0.5)")
    add_inference_flags(parser)
    parser.add_argument("--spacing", type=float, nargs=2, default=(1.0, 1.0), metavar=("SY", "SX"),
                        help="pixel size (row, column) for ASSD/HD95, e.g. in mm (default: 1 1, pixels)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR/eval/SPLIT)")
    parser.add_argument("--ensemble", nargs="+", default=[], metavar="RUN",
                        help="also average the probabilities of these runs (same classes and channels), e.g. other "
                             "seeds or folds of the same recipe")
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg evaluate RUN_DIR ...`: evaluates a run and prints its summary."""
    args = evaluate_parser(prog).parse_args(argv)

    def command() -> None:
        import pandas as pd

        from tfseg.evaluation import evaluate_run
        from tfseg.run import RunDir

        summary = evaluate_run(
            args.run_dir, args.data, args.split, tta=args.tta, threshold=args.threshold,
            postprocess_method=args.postprocess, spacing=tuple(args.spacing), out_dir=args.out, progress=True,
            precision=args.precision, ensemble=args.ensemble, batch_size=args.batch_size,
        )
        out_dir = args.out or RunDir(args.run_dir).eval_dir(args.split)
        print(f"{args.split} split of {args.run_dir} ({summary['images']} images, threshold {summary['threshold']:g}):")
        print(pd.DataFrame(summary["scores"]).T.to_string(float_format=lambda value: f"{value:.4f}"))
        print("empty masks: " + ", ".join(f"{case}: {n}" for case, n in summary["empty_cases"].items()))
        for warning in summary["warnings"]:
            print(f"tfseg: warning: {warning}")
        print(f"tfseg: report, per-image scores and pictures in {out_dir}")

    return run(command, args.verbose)
