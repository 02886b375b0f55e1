"""`tfseg models [NAME]` (train.py --list-models): the models by family and the encoders, or one model's details."""

from __future__ import annotations

import argparse
import inspect
import shlex
import shutil
import textwrap
from typing import Any, Sequence

from tfseg.cli.command import ArgumentParser, add_verbose_flag, run

SHARED_PARAMETERS = ("input_shape", "classes", "encoder")
"""Builder parameters that are not model options: train.py sets them from data.* and the model name."""

EXAMPLES = """\
examples:
  tfseg models                                # every model and encoder
  tfseg models unet                           # options, encoders, example
  tfseg models unet_resnet34
"""
"""The examples at the end of `tfseg models --help`."""


def _wrap(text: str, indent: int) -> str:
    """`text` wrapped to the terminal's width, at most 100 columns, its lines after the first
    indented by `indent`."""
    width = min(shutil.get_terminal_size().columns, 100)
    return textwrap.fill(text, width, subsequent_indent=" " * indent, break_on_hyphens=False)


def _yaml_word(value: Any) -> str:
    """A builder default as one word of YAML, e.g. `null`, `true`, `[256,128,64]`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(_yaml_word, value)) + "]"
    return str(value)


def print_models() -> None:
    """Prints one row per architecture, grouped by family, with its one-line "when to use
    it", then the encoders by family with where their ImageNet weights come from."""
    from tfseg import models
    from tfseg.models.encoders import ENCODERS

    print(_wrap(f"Models by family: a model with its own encoder, or a decoder on any of the {len(ENCODERS)} "
                "encoders below, named <decoder>_<encoder> (e.g. unet_resnet34).", 0))
    print()
    architectures = sorted(models.architectures(), key=lambda a: a.family)
    patterns = [f"{a.name}_<encoder>" if a.takes_encoder else a.name for a in architectures]
    families, names = max(len(a.family) for a in architectures) + 2, max(map(len, patterns)) + 2
    print(f"{'family':<{families}}{'model':<{names}}when to use it")
    family = None
    for architecture, pattern in zip(architectures, patterns):
        shown = architecture.family if architecture.family != family else ""
        family = architecture.family
        print(_wrap(f"{shown:<{families}}{pattern:<{names}}{architecture.when}", families + names))
    print()
    common = "keras.applications"
    print(_wrap(f"Encoders (<encoder>) by family; ImageNet weights from {common} unless noted:", 0))
    kinds: dict[tuple, str] = {}
    for encoder, spec in ENCODERS.items():
        key = (spec.family, spec.weights_source.split(" (")[0])
        kinds[key] = f"{kinds.get(key, '')} {encoder}".strip()
    families = max(len(family) for family, _ in kinds) + 4
    for (family, source), encoders in kinds.items():
        print(_wrap(f"  {family:<{families - 2}}{encoders}" + (f" ({source})" if source != common else ""), families))
    print()
    print(_wrap("`tfseg models NAME` (e.g. unet, unet_resnet34): a model's options, encoders and an example.", 0))


def print_model(name: str) -> None:
    """Prints the details of model `name` (e.g. `unet_resnet34`), or of every architecture of
    that name (`unet`: the U-Net with its own encoder and the U-Net decoder): what it is and
    when to use it, its builder's options and defaults, its encoders, an example command.

    Raises:
        TfsegError: an unknown name; the message names the closest ones.
    """
    from tfseg import models

    found = [(architecture, None) for architecture in models.architectures() if architecture.name == name]
    if not found:
        entry = models.entry(name)  # an unknown name's error names the closest
        found = [(entry.architecture, entry.encoder)]
    print("\n\n".join(_details(architecture, encoder) for architecture, encoder in found))


def _details(architecture, encoder: str | None) -> str:
    """The details of one architecture (a decoder on `encoder`, when given)."""
    from tfseg.models.encoders import ENCODERS

    peer_names = {"sm": "segmentation_models", "smp": "segmentation_models.pytorch"}
    parameters = inspect.signature(architecture.builder).parameters
    options = {key: parameter.default for key, parameter in parameters.items() if key not in SHARED_PARAMETERS}
    name = example_model = architecture.name
    if encoder is not None:
        name = example_model = f"{architecture.name}_{encoder}"
        spec = ENCODERS[encoder]
        encoders = f"encoder: {encoder}, {spec.title} ({spec.family}), ImageNet weights from {spec.weights_source}"
    elif architecture.takes_encoder:
        name, example_model = f"{architecture.name}_<encoder>", f"{architecture.name}_{parameters['encoder'].default}"
        encoders = f"encoders: any of the {len(ENCODERS)} of `tfseg models`: " + " ".join(ENCODERS)
    else:
        encoders = "encoder: its own"
    if "encoder_weights" in options:
        encoders += "; --encoder-weights imagenet loads ImageNet weights"
    lines = [f"{name} ({architecture.family}): {architecture.when}"]
    if architecture.peers:
        lines.append("peers: " + ", ".join(f"{peer_names[peer]} {peer_name}" for peer, peer_name in architecture.peers.items()))
    lines = [_wrap(line, 2) for line in [*lines, encoders]]
    lines.append("options (YAML model.options, or --set model.options.NAME=VALUE), with their defaults:")
    width = max(map(len, options)) + 2
    lines += [f"  {key:<{width}}{_yaml_word(default)}" for key, default in options.items()]
    example = f"  tfseg train --model {example_model}" + (" --encoder-weights imagenet" if "encoder_weights" in options else "")
    own = [key for key in options if key not in ("activation", "encoder_weights", "encoder_freeze")]
    if own:
        example += " \\\n      --set " + shlex.quote(f"model.options.{own[0]}={_yaml_word(options[own[0]])}")
    return "\n".join([*lines, "example:", example])


def models_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of `tfseg models`."""
    parser = ArgumentParser(prog=prog, description="List the models by family and the encoders, or show one model.",
                            epilog=EXAMPLES)
    parser.add_argument("name", nargs="?", metavar="NAME",
                        help="a model (unet_resnet34), or an architecture (unet, fpn): its details")
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg models [NAME]`: prints the models and encoders, or the details of one."""
    args = models_parser(prog).parse_args(argv)
    return run(lambda: print_model(args.name) if args.name else print_models(), args.verbose)
