"""`tfseg plan [DATA] [--budget 30m] [--out plan.yaml]`: a training plan from the data (`tfseg.plan`)."""

from __future__ import annotations

import argparse
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_budget_flag, add_verbose_flag, run
from tfseg.config import HELP_GROUPS, OPTIONS
from tfseg.options import add_flags, overrides_from_flags
from tfseg.text import DEFAULT_BUDGET, parse_budget

READING_OPTIONS = [spec for spec in OPTIONS if spec.key in (
    "data.classes", "data.mask_threshold", "data.mask_suffix", "data.val_fraction", "data.test_fraction",
    "data.stratify", "train.seed")]
"""How the dataset is read and split: the plan keeps them as given (it decides the channels)."""

EXAMPLES = """\
examples:
  tfseg plan                                  # the built-in demo data, 30 minutes
  tfseg plan $DATA --budget 2h --out my-plan.yaml
  tfseg plan $DATA --classes 4 --budget 45m
"""
"""The examples at the end of `tfseg plan --help`."""


def plan_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of `tfseg plan`."""
    parser = ArgumentParser(
        prog=prog, epilog=EXAMPLES,
        description="Plan training from the data: fingerprint the dataset, choose every setting by\n"
                    "named rules (docs/planning.md), time a few real training steps on this machine\n"
                    "for the epochs the budget affords, print each choice with its reason and write\n"
                    "the plan as a config file for train.py --config.")
    parser.add_argument("data", nargs="?", metavar="DATA",
                        help="dataset folder (images/, masks/) or CSV manifest (default: the demo data)")
    add_budget_flag(parser)
    parser.add_argument("--out", default="plan.yaml", metavar="PATH",
                        help="the config file to write, reasons as comments (default: plan.yaml)")
    add_verbose_flag(parser)
    add_flags(parser, READING_OPTIONS, HELP_GROUPS)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg plan DATA`: prints each planned setting with its reason and writes the plan as a config file."""
    args = plan_parser(prog).parse_args(argv)

    def command() -> None:
        from tfseg.config import load_config
        from tfseg.plan import plan_data

        budget = parse_budget(args.budget or DEFAULT_BUDGET)
        config = load_config(None, overrides_from_flags(args, READING_OPTIONS) | {"data.dir": args.data})
        plan = plan_data(config, budget)
        print(f"plan for {plan.dataset}, a budget of {args.budget or DEFAULT_BUDGET} on {plan.machine.describe()}:")
        print(plan.table())
        print(f"plan: written to {plan.save(args.out)}; train it with: python train.py --config {args.out}")

    return run(command, args.verbose)
