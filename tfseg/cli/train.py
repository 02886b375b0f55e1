"""`tfseg train ...` (train.py, tfseg-train): trains a model or resumes a run, and prints the run directory."""

from __future__ import annotations

import argparse
import time
from typing import Sequence

from tfseg.cli.command import (ArgumentParser, add_budget_flag, add_config_flags, add_verbose_flag, print_export_checks,
                               run)
from tfseg.cli.models import print_models
from tfseg.config import HELP_GROUPS, OPTIONS
from tfseg.options import add_flags
from tfseg.text import DEFAULT_BUDGET

EXAMPLES = """\
examples:
  tfseg train --epochs 2                       # the built-in demo data
  tfseg train --data $DATA --model unet_resnet34 --image-size 256 256
  tfseg train --config configs/lung_best.yaml --data $DATA --set train.lr=3e-4
  tfseg train --set model.options.base_filters=8 --set data.augment=light
  tfseg train --data $DATA --inspect           # check the data, train nothing
  tfseg train --data $DATA --preview 16        # augmented pairs in preview.png
  tfseg train --resume runs/unet-20250101-120000 --epochs 20
"""
"""The examples at the end of `tfseg train --help`."""


def train_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of train.py: its own actions, then one flag per declared option
    (`tfseg.config.OPTIONS`) in the groups of `tfseg.config.HELP_GROUPS`."""
    parser = ArgumentParser(
        prog=prog, usage="%(prog)s [--config FILE] [--set KEY=VALUE]... [FLAG]...\n"
                         "       %(prog)s --resume RUN_DIR [--epochs TOTAL]",
        description="Train a tfseg segmentation model. Settings: the defaults (with --data and no\n"
                    "--config: the plan), then --config, then --set, then the flags. A flag --a-b sets\n"
                    "data.a_b, model.a_b or train.a_b unless its help names another key;\n"
                    "docs/options.md lists every key.",
        epilog=EXAMPLES)
    add_config_flags(parser)
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run; --epochs is the total")
    parser.add_argument("--inspect", action="store_true",
                        help="print the dataset summary and fingerprint, then exit (tfseg inspect)")
    parser.add_argument("--preview", type=int, metavar="N", help="write N augmented training pairs to a PNG and exit")
    parser.add_argument("--preview-path", default="preview.png", metavar="PNG",
                        help="where --preview writes (default: preview.png)")
    parser.add_argument("--list-models", action="store_true", help="print the models and encoders, then exit (tfseg models)")
    parser.add_argument("--plan", action=argparse.BooleanOptionalAction,
                        help="plan what you leave out (default: with --data, no --config)")
    add_budget_flag(parser, "the plan")
    add_verbose_flag(parser)
    add_flags(parser, OPTIONS, HELP_GROUPS)
    return parser


def _inspect_or_preview(config, inspect: bool, preview: int | None, preview_path: str) -> None:
    """`train.py --inspect` / `--preview N`: look at the data instead of training."""
    from tfseg import data
    from tfseg.cli.inspect import print_inspection

    if inspect:
        print_inspection(config)
    if preview:
        print(f"tfseg: preview of {preview} augmented training pairs written to {data.preview(config, preview, preview_path)}")


def _plans(args: argparse.Namespace, config) -> bool:
    """Whether training follows the plan: as --plan/--no-plan say, else when --budget is given,
    or the dataset is given without a config file (a config file is a recipe already)."""
    from tfseg.errors import TfsegError

    if args.plan is False and args.budget:
        raise TfsegError(f"--budget {args.budget} is the plan's; drop --no-plan or --budget")
    if args.plan is not None:
        return args.plan
    return bool(args.budget) or (args.config is None and config.source_of("data.dir") != "default")


def _follow_plan(config, budget: str):
    """The config with the settings it leaves at their defaults planned (`tfseg.plan.follow_plan`)."""
    from tfseg.plan import follow_plan
    from tfseg.text import parse_budget

    seconds = parse_budget(budget)
    print(f"tfseg: planning the settings you did not set from the data, for a budget of {budget} "
          "(--no-plan: their defaults instead)", flush=True)
    return follow_plan(config, seconds)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg train ...`: trains a model and prints the run directory."""
    args = train_parser(prog).parse_args(argv)

    def command() -> None:
        from tfseg.config import check_setting_keys, load_config
        from tfseg.errors import TfsegError
        from tfseg.export.card import read_model_card
        from tfseg.options import overrides_from_flags
        from tfseg.training import resume_run, train, training_summary

        if args.list_models:
            print_models()
            return
        overrides, settings = overrides_from_flags(args, OPTIONS), dict(args.settings)
        if args.inspect or args.preview:
            config = load_config(args.config, overrides, settings)
            _inspect_or_preview(config, args.inspect, args.preview, args.preview_path)
            return
        started = time.monotonic()
        if args.resume:
            if args.plan or args.budget:
                raise TfsegError("--resume RUN_DIR trains as RUN_DIR/config.yaml says; drop --plan and --budget")
            if args.config:
                raise TfsegError("--resume RUN_DIR uses RUN_DIR/config.yaml; drop --config")
            check_setting_keys(settings)
            run_dir = resume_run(args.resume, {**settings, **overrides})
        else:
            config = load_config(args.config, overrides, settings)
            if _plans(args, config):
                config = _follow_plan(config, args.budget or DEFAULT_BUDGET)
            run_dir = train(config)
        if (read_model_card(run_dir) or {}).get("files", {}).keys() - {"saved_model"}:
            print_export_checks(run_dir)
        print(training_summary(run_dir, time.monotonic() - started))

    return run(command, args.verbose)
