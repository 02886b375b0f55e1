"""`tfseg export RUN --format ...` (export.py, tfseg-export): exports a finished run again, in more formats."""

from __future__ import annotations

from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_verbose_flag, print_export_checks, run, threshold
from tfseg.config import EXPORT_FORMATS


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg export RUN --format ...`: exports a finished run again, in more formats."""
    parser = ArgumentParser(
        prog=prog, description="Export a trained run (into RUN/export/) and check every export against best.keras.")
    parser.add_argument("run_dir", help="run directory written by train.py")
    parser.add_argument("--format", nargs="+", default=[], choices=("savedmodel", *EXPORT_FORMATS), metavar="FORMAT",
                        help="formats to add to the export: savedmodel (always written), " + ", ".join(EXPORT_FORMATS)
                             + "; the run's earlier formats are written again")
    parser.add_argument("--batch", type=int, metavar="N",
                        help="batch dimension of model.onnx: 0 = dynamic (default: the run's train.export_batch)")
    parser.add_argument("--threshold", type=threshold,
                        help="binary threshold the model card gives predict.py, or 'auto': the best mean Dice on the "
                             "val split (default: the current card's)")
    parser.add_argument("--license", default="MIT", help="bioimage.io package: SPDX licence id (default MIT)")
    parser.add_argument("--author", action="append", metavar="NAME",
                        help="bioimage.io package: an author (repeat for several; default the placeholder 'tfseg user')")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)

    def command() -> None:
        from tfseg.export.command import export_again
        from tfseg.run import RunDir

        package = {"license": args.license, **({"authors": args.author} if args.author else {})}
        written = export_again(args.run_dir, args.format, args.batch, args.threshold, package)
        print_export_checks(args.run_dir)
        print(f"tfseg: exported {', '.join(['savedmodel', *written])} into {RunDir(args.run_dir).export}")

    return run(command, args.verbose)
