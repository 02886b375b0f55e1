"""The `tfseg` command: `tfseg [--verbose] COMMAND ...`, one module per command.

Each command's `main(argv, prog)` parses its arguments, starts TensorFlow quietly and calls
one library function; a `TfsegError` becomes one line on stderr and exit status 2
(`tfseg.cli.command`). train.py, evaluate.py, predict.py, compare.py and export.py (and
tfseg-train, ...) call `train_main`, `evaluate_main`, `predict_main`, `compare_main` and
`export_main`. Nothing here imports TensorFlow before a command runs, so `--help` answers
at once.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_verbose_flag
from tfseg.cli.compare import main as compare_main
from tfseg.cli.evaluate import main as evaluate_main
from tfseg.cli.export import main as export_main
from tfseg.cli.predict import main as predict_main
from tfseg.cli.train import main as train_main
from tfseg.cli.train import train_parser

__all__ = ["COMMANDS", "compare_main", "evaluate_main", "export_main", "main", "predict_main", "train_main", "train_parser"]

COMMANDS = {
    "train": "train a model, or resume a run (train.py)",
    "evaluate": "score a run on a split: per-image scores, summary, report (evaluate.py)",
    "predict": "write masks for new images (predict.py)",
    "export": "export a run again, in more formats, and check each export (export.py)",
    "compare": "run a study: train and evaluate a grid of cells, then compare them (compare.py)",
    "inspect": "check a dataset and print its summary: splits, sizes, modes, mask values",
    "plan": "plan training from the data and a time budget: a config file with a reason per setting",
    "auto": "from the data and a time budget to a tested, exported model: plan, folds, tuning, test",
    "models": "list the models by family and the encoders, or show one model's options",
    "weights": "list or download the encoders' ImageNet weights files, for training offline",
    "view": "open a report page (evaluation, study, predictions) in the browser, or serve it (--serve)",
}
"""Each command (the module `tfseg.cli.<command>`) and its line in `tfseg --help`."""


def main(argv: Sequence[str] | None = None) -> int:
    """`tfseg [--verbose] COMMAND ...`: runs the command's `main` with the arguments after it."""
    parser = ArgumentParser(
        prog="tfseg", description="Semantic segmentation of 2D medical images with Keras 3 and TensorFlow.",
        epilog="commands:\n" + "\n".join(f"  {name:<10}{text}" for name, text in COMMANDS.items())
               + "\n\n`tfseg COMMAND --help` lists a command's options.")
    add_verbose_flag(parser)
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND", help="one of: " + ", ".join(COMMANDS))
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="the command's arguments")
    args = parser.parse_args(argv)
    command = importlib.import_module(f"tfseg.cli.{args.command}")
    return command.main([*args.arguments, *(["--verbose"] if args.verbose else [])], prog=f"tfseg {args.command}")
