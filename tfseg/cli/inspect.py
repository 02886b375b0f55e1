"""`tfseg inspect [DATA]` (train.py --inspect): a dataset's summary, with the same checks as training,
and its fingerprint (`tfseg.data.fingerprint`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_verbose_flag, run
from tfseg.config import OPTIONS
from tfseg.options import add_flags, overrides_from_flags

DATA_OPTIONS = [spec for spec in OPTIONS if spec.key.startswith("data.") and spec.key != "data.dir" or spec.key == "train.seed"]
"""The data section's options but the folder (the command's argument), and the seed (the split)."""


def print_inspection(config, copy_to: str | None = None) -> None:
    """Prints the dataset summary, then the fingerprint's highlights and where it is cached
    (computed first when missing); writes a copy of it to `copy_to` when given."""
    from tfseg.data import dataset_summary, describe_classes, fingerprint_file, fingerprint_path, load_table
    from tfseg.errors import TfsegError
    from tfseg.files import write_atomically

    table = load_table(config.data, config.train.seed)
    print(dataset_summary(config, table), flush=True)
    cached, started = fingerprint_path(config).is_file(), time.monotonic()
    path = fingerprint_file(config, table)
    text = path.read_text(encoding="utf-8")
    for line in describe_classes(json.loads(text)):
        print(f"fingerprint: {line}")
    print(f"fingerprint: {path} ({'cached' if cached else f'computed in {time.monotonic() - started:.1f} s'})")
    if copy_to:
        target = Path(copy_to)
        if target.is_dir():
            raise TfsegError(f"--fingerprint {copy_to}: a folder, expected the path of a JSON file to write")
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"fingerprint: copied to {write_atomically(target, text)}")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg inspect DATA`: prints the dataset summary and fingerprint (`print_inspection`); exit 2 on problems."""
    parser = ArgumentParser(
        prog=prog, description="Print a dataset's summary (splits, sizes, modes, mask values) after the checks "
                               "training runs, and compute its fingerprint (objects, sizes, intensities; "
                               "docs/data.md) once; exit 2 on problems.")
    parser.add_argument("data", nargs="?", help="dataset folder (images/, masks/; default: the config's, else the demo data)")
    parser.add_argument("--config", help="YAML config file (see configs/); flags override its values")
    parser.add_argument("--fingerprint", metavar="PATH",
                        help="also write the fingerprint JSON to PATH (default: none; it is cached under "
                             "$TFSEG_CACHE/fingerprints, ~/.cache/tfseg without $TFSEG_CACHE, and its path printed)")
    add_verbose_flag(parser)
    add_flags(parser.add_argument_group("data options (docs/options.md)"), DATA_OPTIONS)
    args = parser.parse_args(argv)

    def command() -> None:
        from tfseg.config import load_config

        overrides = overrides_from_flags(args, DATA_OPTIONS) | {"data.dir": args.data}
        print_inspection(load_config(args.config, overrides), args.fingerprint)

    return run(command, args.verbose)
