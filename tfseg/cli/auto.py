"""`tfseg auto DATA --budget 2h --out DIR`: plan, train (k folds when the budget affords them),
choose flips, threshold and post-processing on validation, score the ensemble on test and
export it (`tfseg.plan.auto`)."""

from __future__ import annotations

import argparse
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_budget_flag, add_verbose_flag, run
from tfseg.cli.plan import READING_OPTIONS
from tfseg.config import HELP_GROUPS
from tfseg.options import add_flags, overrides_from_flags
from tfseg.text import DEFAULT_BUDGET, parse_budget

EXAMPLES = """\
examples:
  tfseg auto $DATA --budget 2h --out auto-run      # start, or resume after a stop
  tfseg auto $DATA --budget 20m --folds 1 --out quick
  tfseg auto $DATA --budget 6h --classes 4 --out jsrt-auto
"""
"""The examples at the end of `tfseg auto --help`."""


def auto_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of `tfseg auto`."""
    parser = ArgumentParser(
        prog=prog, epilog=EXAMPLES,
        description="From a dataset to a tested, exported model within a time budget: plan from the\n"
                    "data (tfseg plan), train five folds when the budget affords them (else one\n"
                    "model), choose test-time flips, threshold and post-processing on validation\n"
                    "predictions, score the ensemble on the test split and export it into DIR/model\n"
                    "(tfseg predict DIR/model IMAGES). Stopped, it goes on where it stopped when run\n"
                    "again with the same arguments.")
    parser.add_argument("data", metavar="DATA", help="dataset folder (images/, masks/) or CSV manifest")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the run's folder: plan.yaml, models/, tuning.csv, test/, model/, auto.json")
    add_budget_flag(parser, "all of it: planning, training, choosing, testing and the export")
    parser.add_argument("--folds", type=int, metavar="K",
                        help="K >= 2 folds, or 1 for one model (default: 5 folds when each fold's share of the "
                             "budget affords a full model, else one)")
    add_verbose_flag(parser)
    add_flags(parser, READING_OPTIONS, HELP_GROUPS)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg auto DATA --out DIR`: runs or resumes the whole way from the data to an exported model."""
    args = auto_parser(prog).parse_args(argv)

    def command() -> None:
        from tfseg.config import load_config
        from tfseg.errors import TfsegError
        from tfseg.plan.auto import run_auto

        if args.folds is not None and args.folds < 1:
            raise TfsegError(f"--folds {args.folds}: expected 1 (one model) or K >= 2 folds")
        budget = parse_budget(args.budget or DEFAULT_BUDGET)
        config = load_config(None, overrides_from_flags(args, READING_OPTIONS) | {"data.dir": args.data})
        run_auto(config, budget, args.out, args.folds)

    return run(command, args.verbose)
