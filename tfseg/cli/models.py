"""`tfseg models` (train.py --list-models): every model name by family, and the encoders."""

from __future__ import annotations

from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_verbose_flag, run


def print_models() -> None:
    """Prints every model name, grouped by family, each architecture
    with its one-line "when to use it"; a decoder with the names it has on each encoder."""
    import textwrap

    from tfseg import models
    from tfseg.models.encoders import ENCODERS

    by_family: dict[str, list] = {}
    for architecture in models.architectures():
        by_family.setdefault(architecture.family, []).append(architecture)
    table = models.entries()
    for family, architectures in by_family.items():
        print(family)
        for architecture in architectures:
            pattern = f"{architecture.name}_<encoder>" if architecture.takes_encoder else architecture.name
            print(f"  {pattern:<24}{architecture.when}")
            if architecture.takes_encoder:
                names = " ".join(name for name, entry in table.items() if entry.architecture is architecture)
                print(textwrap.fill(names, width=100, initial_indent=" " * 4, subsequent_indent=" " * 4))
        print()
    print("Encoders (<encoder>), by family; imagenet weights from")
    kinds: dict[tuple, list] = {}
    for encoder, spec in ENCODERS.items():
        kinds.setdefault((spec.family, spec.weights_source), []).append(encoder)
    for (family, source), encoders in kinds.items():
        print(f"  {family:<16}{' '.join(encoders):<60}{source}")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg models`: prints the model names by family, and the encoders."""
    parser = ArgumentParser(prog=prog, description="List the model names by family, and the encoders.")
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    return run(print_models, args.verbose)
