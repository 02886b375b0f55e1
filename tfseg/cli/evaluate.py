"""`tfseg evaluate RUN_DIR ...` (evaluate.py, tfseg-evaluate): evaluates a run on a split."""

from __future__ import annotations

from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_precision_flag, add_verbose_flag, run, threshold


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg evaluate RUN_DIR ...`: evaluates a run and prints its summary."""
    parser = ArgumentParser(
        prog=prog, description="Evaluate a trained tfseg run.")
    parser.add_argument("run_dir", help="run directory written by train.py")
    parser.add_argument("--data", help="dataset folder (default: the one the run was trained on)")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--tta", default="none", help="test-time augmentation: none, flip (left-right) or flip-all")
    parser.add_argument("--threshold", type=threshold, default=0.5,
                        help="binary threshold, or 'auto': the best mean Dice on the val split (default 0.5)")
    parser.add_argument("--postprocess", default="none", help="none or largest-component (per class)")
    parser.add_argument("--spacing", type=float, nargs=2, default=(1.0, 1.0), metavar=("SY", "SX"),
                        help="pixel size (row, column) for ASSD/HD95, e.g. in mm (default 1 1: pixels)")
    parser.add_argument("--out", help="output folder (default RUN_DIR/eval/SPLIT)")
    parser.add_argument("--ensemble", nargs="+", default=[], metavar="RUN",
                        help="also average the probabilities of these runs (same classes and channels), e.g. other "
                             "seeds or folds of the same recipe")
    add_precision_flag(parser)
    add_verbose_flag(parser)
    args = parser.parse_args(argv)

    def command() -> None:
        import pandas as pd

        from tfseg.evaluation import evaluate_run
        from tfseg.run import RunDir

        summary = evaluate_run(
            args.run_dir, args.data, args.split, tta=args.tta, threshold=args.threshold,
            postprocess_method=args.postprocess, spacing=tuple(args.spacing), out_dir=args.out, progress=True,
            precision=args.precision, ensemble=args.ensemble,
        )
        out_dir = args.out or RunDir(args.run_dir).eval_dir(args.split)
        print(f"{args.split} split of {args.run_dir} ({summary['images']} images, threshold {summary['threshold']:g}):")
        print(pd.DataFrame(summary["scores"]).T.to_string(float_format=lambda value: f"{value:.4f}"))
        print("empty masks: " + ", ".join(f"{case}: {n}" for case, n in summary["empty_cases"].items()))
        for warning in summary["warnings"]:
            print(f"tfseg: warning: {warning}")
        print(f"tfseg: report, per-image scores and pictures in {out_dir}")

    return run(command, args.verbose)
