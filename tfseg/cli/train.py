"""`tfseg train ...` (train.py, tfseg-train): trains a model or resumes a run, and prints the run directory."""

from __future__ import annotations

import argparse
import time
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_verbose_flag, print_export_checks, run
from tfseg.cli.models import print_models
from tfseg.config import OPTIONS
from tfseg.options import add_flags


def train_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of train.py: its own actions, then one flag per declared option (`tfseg.config.OPTIONS`)."""
    parser = ArgumentParser(prog=prog, description="Train a tfseg segmentation model.")
    parser.add_argument("--config", help="YAML config file (see configs/); flags override its values")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run; --epochs is the total")
    parser.add_argument("--inspect", action="store_true",
                        help="print the dataset summary (splits, sizes, modes, mask values) and compute its fingerprint, "
                             "then exit; exit 2 on problems (tfseg inspect)")
    parser.add_argument("--preview", type=int, metavar="N", help="write a PNG grid of N augmented training pairs and exit")
    parser.add_argument("--preview-path", default="preview.png", help="where --preview writes (default preview.png)")
    parser.add_argument("--list-models", action="store_true", help="print the model names by family, then exit (tfseg models)")
    add_verbose_flag(parser)
    add_flags(parser.add_argument_group("options (docs/options.md)"), OPTIONS)
    return parser


def _inspect_or_preview(config, inspect: bool, preview: int | None, preview_path: str) -> None:
    """`train.py --inspect` / `--preview N`: look at the data instead of training."""
    from tfseg import data
    from tfseg.cli.inspect import print_inspection

    if inspect:
        print_inspection(config)
    if preview:
        print(f"tfseg: preview of {preview} augmented training pairs written to {data.preview(config, preview, preview_path)}")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg train ...`: trains a model and prints the run directory."""
    args = train_parser(prog).parse_args(argv)

    def command() -> None:
        from tfseg.config import load_config
        from tfseg.errors import TfsegError
        from tfseg.export.card import read_model_card
        from tfseg.options import overrides_from_flags
        from tfseg.training import resume_run, train, training_summary

        if args.list_models:
            print_models()
            return
        overrides = overrides_from_flags(args, OPTIONS)
        if args.inspect or args.preview:
            _inspect_or_preview(load_config(args.config, overrides), args.inspect, args.preview, args.preview_path)
            return
        started = time.monotonic()
        if args.resume:
            if args.config:
                raise TfsegError("--resume RUN_DIR uses RUN_DIR/config.yaml; drop --config")
            run_dir = resume_run(args.resume, overrides)
        else:
            run_dir = train(load_config(args.config, overrides))
        if (read_model_card(run_dir) or {}).get("files", {}).keys() - {"saved_model"}:
            print_export_checks(run_dir)
        print(training_summary(run_dir, time.monotonic() - started))

    return run(command, args.verbose)
