"""`tfseg compare STUDY.yaml ...` (compare.py, tfseg-compare): runs a study; `--publish` rewrites published tables."""

from __future__ import annotations

import argparse
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_verbose_flag, run

EXAMPLES = """\
examples:
  tfseg compare configs/studies/ph2_losses.yaml --list   # cells, their state
  tfseg compare configs/studies/ph2_losses.yaml          # run or resume them
  tfseg compare configs/studies/ph2_losses.yaml --cells segnet-dice unet-bce
  tfseg compare configs/studies/ph2_losses.yaml --render --pair segnet-dice-s0 unet-bce-s0
  tfseg compare --publish RESULTS.md
"""
"""The examples at the end of `tfseg compare --help`."""


def compare_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of compare.py."""
    parser = ArgumentParser(
        prog=prog, usage="%(prog)s STUDY.yaml [FLAG]...\n       %(prog)s --publish MARKDOWN",
        description="Run a study: train and evaluate every cell of a grid, then compare them.",
        epilog=EXAMPLES)
    parser.add_argument("study", nargs="?", help="study file (YAML; see configs/studies/ and docs/studies.md)")
    parser.add_argument("--cells", nargs="+", metavar="CELL",
                        help="run only these cells (names as --list prints them, with or without -s<seed>)")
    parser.add_argument("--data", metavar="DIR",
                        help="dataset every cell reads instead of the study file's data.dir (e.g. $DATA/ph2-skin); "
                             "for a planned study, the folder of its datasets instead of its data_root (e.g. $DATA)")
    parser.add_argument("--out", default="studies", help="folder of all studies (default: studies/)")
    parser.add_argument("--list", action="store_true", help="print each cell and its state, then exit")
    parser.add_argument("--render", action="store_true",
                        help="only redraw results.md, results.png and report.html from results.csv, then exit")
    parser.add_argument("--pair", nargs=2, metavar=("A", "B"),
                        help="the two rows of results.csv that report.html shows side by side on the test images "
                             "(default: the two with the highest test Dice)")
    parser.add_argument("--publish", metavar="MARKDOWN",
                        help="rewrite the study tables between '<!-- study table: STUDY.yaml -->' and "
                             "'<!-- end of study table -->' in this file (e.g. RESULTS.md) and their figures, then exit")
    parser.add_argument("--figures", default="docs/assets/studies",
                        help="with --publish: where the figures go (default: docs/assets/studies/)")
    add_verbose_flag(parser)
    return parser


def _planned_study(args: argparse.Namespace) -> None:
    """compare.py on a planned study file (`tfseg.plan.evidence`): list, redraw or run its entries."""
    from tfseg.errors import TfsegError
    from tfseg.files import write_atomically
    from tfseg.plan.evidence import describe_planned, load_planned_study, render_planned, run_planned_study

    if args.cells or args.pair:
        raise TfsegError(f"{args.study}: a planned study has no cells to pick or pair; drop --cells and --pair")
    study = load_planned_study(args.study, args.out, args.data)
    if args.list:
        print(describe_planned(study))
        return
    if not args.render:
        run_planned_study(study)
    write_atomically(study.results_md, render_planned(study))
    print(f"tfseg: planned study {study.name}: table in {study.results_md}")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg compare STUDY.yaml ...`: trains and evaluates a study's cells (tfseg.study);
    `tfseg compare --publish RESULTS.md` rewrites the study tables published in a Markdown file."""
    args = compare_parser(prog).parse_args(argv)

    def command() -> None:
        from tfseg.errors import TfsegError
        from tfseg.plan.evidence import is_planned_study, published_table
        from tfseg.study import check_pair_names, describe_cells, load_study, publish, render_results, run_study, select_cells

        if args.publish:
            if args.study:
                raise TfsegError("--publish MARKDOWN publishes the studies the file names; drop the study file")
            publish(args.publish, args.figures, args.out, other_tables=published_table)
            print(f"tfseg: study tables in {args.publish} and their figures in {args.figures} rewritten")
            return
        if not args.study:
            raise TfsegError("expected a study file (STUDY.yaml), or --publish MARKDOWN")
        if is_planned_study(args.study):
            _planned_study(args)
            return
        study = load_study(args.study, args.out, args.data)
        if args.pair:
            check_pair_names(study, args.pair)
        if args.list:
            print(describe_cells(study))
            return
        if args.render:
            render_results(study, args.pair)
            print(f"tfseg: {study.results_md}, {study.figure} and {study.report_html} redrawn")
            return
        run_study(study, select_cells(study, args.cells), args.pair)
        print(f"tfseg: study {study.name}: table in {study.results_md}, figure in {study.figure}, page in "
              f"{study.report_html}")

    return run(command, args.verbose)
