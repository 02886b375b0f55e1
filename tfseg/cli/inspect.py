"""`tfseg inspect [DATA]` (train.py --inspect): a dataset's summary, with the same checks as training."""

from __future__ import annotations

from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_verbose_flag, run
from tfseg.config import OPTIONS
from tfseg.options import add_flags, overrides_from_flags

DATA_OPTIONS = [spec for spec in OPTIONS if spec.key.startswith("data.") and spec.key != "data.dir" or spec.key == "train.seed"]
"""The data section's options but the folder (the command's argument), and the seed (the split)."""


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg inspect DATA`: prints the dataset summary (`tfseg.data.dataset_summary`); exit 2 on problems."""
    parser = ArgumentParser(
        prog=prog, description="Print a dataset's summary (splits, sizes, modes, mask values) after the checks "
                               "training runs; exit 2 on problems.")
    parser.add_argument("data", nargs="?", help="dataset folder (images/, masks/; default: the config's, else the demo data)")
    parser.add_argument("--config", help="YAML config file (see configs/); flags override its values")
    add_verbose_flag(parser)
    add_flags(parser.add_argument_group("data options (docs/options.md)"), DATA_OPTIONS)
    args = parser.parse_args(argv)

    def command() -> None:
        from tfseg.config import load_config
        from tfseg.data import dataset_summary

        overrides = overrides_from_flags(args, DATA_OPTIONS) | {"data.dir": args.data}
        print(dataset_summary(load_config(args.config, overrides)))

    return run(command, args.verbose)
