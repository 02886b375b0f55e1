"""What every command shares: its argument parser and help layout, `--verbose`, TensorFlow
started quietly, a TfsegError as one line, and the flags and printouts that more than one
command has."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import textwrap
from typing import Any, Callable

import yaml

from tfseg.config import INFERENCE_PRECISIONS, TTA_FLIPS, parse_postprocess, read_yaml
from tfseg.errors import TfsegError, did_you_mean


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """--help at most 100 columns wide (narrower on a narrower terminal), flag help from
    column 26; descriptions and epilogs (the examples) as written."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=26, width=min(shutil.get_terminal_size().columns, 100) - 2)

    def _split_lines(self, text: str, width: int) -> list[str]:
        """As argparse's, but never breaks a word at a hyphen (`tflite-int8`, `flip-all`)."""
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` with `HelpFormatter`, no abbreviated flags (`--epoch 3` is
    not `--epochs 3`), and an "unrecognized arguments" error that names the closest flags
    (`--image-sise` → `did you mean --image-size?`), as Python 3.12's does for choices."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            flags = [word.split("=")[0] for word in message[len(prefix):].split() if word.startswith("-")]
            advice = " ".join(filter(None, (did_you_mean(flag, self._option_string_actions) for flag in flags)))
            message = f"{message}; {advice}" if advice else message
        super().error(message)


def add_former_spelling(parser: argparse.ArgumentParser, former: str, current: argparse.Action) -> None:
    """Keeps `former`, an old spelling of the flag `current` (as `add_argument` returned it),
    working for one more release: the same value, a line `tfseg: FORMER is deprecated; use
    CURRENT` on stderr, and no line in --help."""

    class FormerSpelling(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None) -> None:
            print(f"tfseg: {former} is deprecated; use {current.option_strings[0]}", file=sys.stderr)
            current(parser, namespace, values, option_string)

    parser.add_argument(former, action=FormerSpelling, dest=current.dest, nargs=current.nargs, type=current.type,
                        choices=current.choices, metavar=current.metavar, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def setting(text: str) -> tuple[str, Any]:
    """argparse type of `--set KEY=VALUE`: (dotted key, VALUE read as YAML), e.g.
    `train.lr=3e-4` → ("train.lr", 0.0003); the key is checked when the config loads."""
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. train.lr=3e-4), got {text!r}")
    try:
        return key.strip(), read_yaml(value)
    except yaml.YAMLError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: VALUE is not valid YAML ({str(error).splitlines()[0]})") from None


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Adds `--config FILE` and `--set KEY=VALUE` (repeatable; into `args.settings`)."""
    parser.add_argument("--config", metavar="FILE", help="YAML config file (see configs/)")
    parser.add_argument("--set", dest="settings", type=setting, action="append", default=[], metavar="KEY=VALUE",
                        help="set any config key, VALUE read as YAML (e.g. train.lr=3e-4); repeatable")


def add_budget_flag(parser: argparse.ArgumentParser, purpose: str = "training, validation, export and evaluation") -> None:
    """Adds `--budget DURATION` (`tfseg.text.parse_budget` reads it; None when not given)."""
    parser.add_argument("--budget", metavar="DURATION",
                        help=f"time for {purpose}: 90s, 30m, 2h, 1h30m (default: 30m)")


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """Adds `--verbose`: let TensorFlow's and absl's start-up and log lines through."""
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up and log lines (hidden by default)")


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


def run(function: Callable[[], int | None], verbose: bool = False, tensorflow: bool = True) -> int:
    """Starts TensorFlow (`start_tensorflow`; not if `tensorflow` is False), then runs `function`,
    turning a TfsegError into `error: <message>` and exit 2, and a training stopped by a signal
    into its message and 128 + the signal number."""
    from tfseg.errors import TfsegError, TrainingStopped

    if tensorflow:
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


def positive_int(text: str) -> int:
    """argparse type of --batch-size: a whole number >= 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def postprocess_spec(text: str) -> str:
    """argparse type of --postprocess: a post-processing spec (`tfseg.config.parse_postprocess`)."""
    try:
        parse_postprocess(text)
    except TfsegError as error:
        raise argparse.ArgumentTypeError(f"{str(error).removeprefix(f'--postprocess {text!r}: ')}, got {text!r}") from None
    return text


def add_inference_flags(parser: argparse.ArgumentParser, card_defaults: bool = False) -> None:
    """Adds the flags that prediction and evaluation share: `--tta`, `--postprocess` and
    `--precision`, their choices from `tfseg.config`. With `card_defaults` (prediction),
    `--tta` and `--postprocess` default to None: the model card's."""
    default, said = (None, "the model card's, else none") if card_defaults else ("none", "none")
    parser.add_argument("--tta", default=default, choices=tuple(TTA_FLIPS),
                        help=f"test-time augmentation: flip is left-right, flip-all adds up-down (default: {said})")
    parser.add_argument("--postprocess", default=default, type=postprocess_spec, metavar="SPEC",
                        help=f"none, or steps joined by +, each applied to every class: largest-component (keep "
                             f"the largest), fill-holes, remove-small=N (components under N pixels), e.g. "
                             f"remove-small=20+fill-holes (default: {said})")
    parser.add_argument("--precision", default="float32", choices=INFERENCE_PRECISIONS,
                        help="float32 gives the same results on every machine; mixed_bfloat16_convs is faster "
                             "on CPUs with bfloat16 instructions; auto: it where it helps (docs/speed.md) "
                             "(default: float32)")


def print_export_checks(run_dir) -> None:
    """Checks a run's exports on its val split (`tfseg.export.checks.check_exports`) and prints the table."""
    from tfseg.export.checks import check_exports

    table = check_exports(run_dir, "val")
    print(f"tfseg: exports of {run_dir} on the val split, each in its own runtime, against best.keras "
          f"(also in export/checks.csv):")
    print(table.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
