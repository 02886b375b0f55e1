"""What every command shares: `--verbose`, TensorFlow started quietly, a TfsegError as one line,
and the flags and printouts that more than one command has."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from typing import Callable

from tfseg.config import INFERENCE_PRECISIONS
from tfseg.errors import did_you_mean


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose "unrecognized arguments" error names the closest
    flags (`--image-sise` → `did you mean --image-size?`), as Python 3.12's does for choices."""

    def error(self, message: str) -> None:  # type: ignore[override]
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            flags = [word.split("=")[0] for word in message[len(prefix):].split() if word.startswith("-")]
            advice = " ".join(filter(None, (did_you_mean(flag, self._option_string_actions) for flag in flags)))
            message = f"{message}; {advice}" if advice else message
        super().error(message)


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """Adds `--verbose`: let TensorFlow's and absl's start-up and log lines through."""
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's and absl's start-up and log lines (hidden by default)")


def start_tensorflow(verbose: bool) -> None:
    """Imports TensorFlow with its logging set first: everything if `verbose`, else errors of
    tfseg's own loggers only, and its start-up lines kept back unless the import fails.

    TF_CPP_MIN_LOG_LEVEL does not hold back the lines absl writes before its logging is set
    up (`WARNING: All log messages before absl::InitializeLog() ...`, `I0000 ... port.cc`), so
    those go to a temporary file while TensorFlow loads. Does nothing once TensorFlow is
    imported (a command called in-process, e.g. by a test).
    """
    if "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else "3"
    if verbose:
        import tensorflow  # noqa: F401
        return
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    sys.stderr.flush()
    stderr = os.dup(2)
    with tempfile.TemporaryFile() as start_up:
        os.dup2(start_up.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(stderr, 2)
            start_up.seek(0)
            sys.stderr.write(start_up.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(stderr, 2)
            os.close(stderr)


def run(function: Callable[[], int | None], verbose: bool = False) -> int:
    """Starts TensorFlow (`start_tensorflow`), then runs `function`, turning a TfsegError into
    `error: <message>` and exit 2, and a training stopped by a signal into its message and
    128 + the signal number."""
    from tfseg.errors import TfsegError, TrainingStopped

    start_tensorflow(verbose)
    try:
        return function() or 0
    except TfsegError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainingStopped as stopped:
        print(f"tfseg: {stopped}", file=sys.stderr)
        return stopped.exit_code


def number_or(word: str, expected: str) -> Callable[[str], float | str]:
    """An argparse type that takes `word` as it is, or a number; `expected` says what is allowed."""

    def parse(text: str) -> float | str:
        if text == word:
            return text
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None

    return parse


threshold = number_or("auto", "a number in (0, 1) or 'auto'")
"""argparse type of --threshold: a number or `auto`."""


def add_precision_flag(parser: argparse.ArgumentParser) -> None:
    """Adds `--precision` of prediction and evaluation (`tfseg.config.INFERENCE_PRECISIONS`)."""
    parser.add_argument("--precision", default="float32", choices=INFERENCE_PRECISIONS,
                        help="what the model computes in: float32 (default: the same results on every machine), "
                             "mixed_bfloat16_convs (faster on CPUs with bfloat16 instructions), or auto "
                             "(mixed_bfloat16_convs where that helps; docs/speed.md)")


def print_export_checks(run_dir) -> None:
    """Checks a run's exports on its val split (`tfseg.export.checks.check_exports`) and prints the table."""
    from tfseg.export.checks import check_exports

    table = check_exports(run_dir, "val")
    print(f"tfseg: exports of {run_dir} on the val split, each in its own runtime, against best.keras "
          f"(also in export/checks.csv):")
    print(table.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
