"""The model registry: every architecture registers itself where it is defined.

A builder with its own encoder registers under one name (`@register_model("unet", ...)`);
a decoder registers once (`@register_decoder("fpn", ...)`, the decoder base of
`tfseg.models.decoder` gives it the encoder, the head and its builder) and is then a model
on every encoder of `tfseg.models.encoders.ENCODERS`, named `<decoder>_<encoder>`. Each entry
carries its family, a one-line "when to use it", its small test options and its peers'
names, which `train.py --list-models`, the docs' model table, the tests and the
benchmarks read. The modules of `tfseg.models` are imported on the first lookup, so a
new module registers without being named anywhere else.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import keras

from tfseg.errors import TfsegError, did_you_mean
from tfseg.models.batch_norm import use_fused_batch_norm


@dataclass(frozen=True)
class Architecture:
    """One registered builder: a model with its own encoder, or a decoder for every encoder.

    Attributes:
        name: str. The model name, or the decoder's prefix (`fpn` in `fpn_resnet34`).
        family: str. The family in listings and docs, e.g. "U-Net", "DeepLabV3+".
        when: str. One line: when to use it.
        builder: the `build_*` function, `(input_shape, classes, activation, **options)`;
            a decoder's also takes `encoder`, `encoder_weights` and `encoder_freeze`.
        small: dict. Options of a small variant that builds and steps in seconds (tests).
        peers: dict. The equivalent builder in each peer library: "sm" for
            segmentation_models (Keras), "smp" for segmentation_models.pytorch.
        takes_encoder: bool. A decoder registered on every encoder.
    """

    name: str
    family: str
    when: str
    builder: Callable[..., keras.Model]
    small: dict = field(default_factory=dict)
    peers: dict = field(default_factory=dict)
    takes_encoder: bool = False


@dataclass(frozen=True)
class ModelEntry:
    """One model name: its architecture and, for a decoder, its encoder."""

    name: str
    architecture: Architecture
    encoder: str | None = None

    @property
    def family(self) -> str:
        return self.architecture.family

    def check_options(self, options: dict) -> None:
        """Raises `TfsegError` when `options` has a key the builder does not take (without
        building); an `encoder` option checks the rest against decoder `name` on it, as `build`."""
        if options.get("encoder") is not None:
            options = dict(options)
            return entry(self.name, options.pop("encoder")).check_options(options)
        taken = set(inspect.signature(self.architecture.builder).parameters) - {"input_shape", "classes", "encoder"}
        unknown = sorted(set(options) - taken)
        if unknown:
            raise TfsegError(f"model.options {unknown} are not options of model {self.name!r}; valid: {sorted(taken)}")

    def build(self, input_shape, classes: int, **options) -> keras.Model:
        """The model, its batch norms through the fused kernel (`tfseg.models.batch_norm`)."""
        encoder = {} if self.encoder is None else {"encoder": self.encoder}
        return use_fused_batch_norm(self.architecture.builder(tuple(input_shape), classes, **encoder, **options))


_ARCHITECTURES: dict[str, Architecture] = {}
_loaded = False


def _register(name: str, family: str, when: str, small, peers, takes_encoder: bool, make_builder=None):
    key = f"{name}_<encoder>" if takes_encoder else name

    def decorator(function):
        if key in _ARCHITECTURES:
            first = _ARCHITECTURES[key].builder
            raise TfsegError(
                f"model {key!r} is registered twice: by {first.__module__}.{first.__qualname__} "
                f"and {function.__module__}.{function.__qualname__}"
            )
        builder = function if make_builder is None else make_builder(function)
        _ARCHITECTURES[key] = Architecture(name, family, when, builder, dict(small or {}), dict(peers or {}), takes_encoder)
        return builder

    return decorator


def register_model(name: str, *, family: str, when: str, small: dict | None = None, peers: dict | None = None):
    """Decorator: registers a builder with its own encoder as model `name`."""
    return _register(name, family, when, small, peers, takes_encoder=False)


def register_decoder(
    name: str,
    *,
    family: str,
    when: str,
    small: dict | None = None,
    peers: dict | None = None,
    default_encoder: str = "resnet50",
):
    """Decorator: registers a decoder as `<name>_<encoder>` for every encoder and returns
    its builder.

    The decorated function is the decoder, `(encoder, **options)`: given a
    `tfseg.models.decoder.EncoderFeatures` and its own keyword options, it returns its
    output feature map, or a `Decoded` with the upsampling to full resolution (see
    `tfseg.models.decoder`). The decorator returns the builder
    `(input_shape, classes=1, activation="auto", encoder=default_encoder,
    encoder_weights=None, encoder_freeze=False, **options)` of the same name and docstring.
    """
    from tfseg.models.decoder import decoder_builder

    return _register(
        name, family, when, small, peers, takes_encoder=True,
        make_builder=lambda decoder: decoder_builder(name, decoder, default_encoder),
    )


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    import tfseg.models

    for module in pkgutil.iter_modules(tfseg.models.__path__):
        if module.name.startswith("_"):  # __main__
            continue
        importlib.import_module(f"tfseg.models.{module.name}")
    _loaded = True


def architectures() -> list[Architecture]:
    """Every registered architecture, in registration order (grouped by module)."""
    _load_all()
    return list(_ARCHITECTURES.values())


def entries() -> dict[str, ModelEntry]:
    """Every model name → its entry: each model with its own encoder, each decoder on
    each encoder.

    Raises:
        TfsegError: a name given twice, e.g. a model registered as `fpn_resnet34` beside
            the decoder `fpn` on the encoder `resnet34`.
    """
    from tfseg.models.encoders import ENCODERS

    table = {}
    for architecture in architectures():
        encoders = ENCODERS if architecture.takes_encoder else [None]
        for encoder in encoders:
            name = architecture.name if encoder is None else f"{architecture.name}_{encoder}"
            if name in table:
                raise TfsegError(
                    f"model {name!r} is registered twice: as {_registered_as(table[name])} "
                    f"and as {_registered_as(ModelEntry(name, architecture, encoder))}"
                )
            table[name] = ModelEntry(name, architecture, encoder)
    return table


def _registered_as(model_entry: ModelEntry) -> str:
    """How an entry came to be: "model 'x'" or "decoder 'fpn' on encoder 'resnet34'"."""
    if model_entry.encoder is None:
        return f"model {model_entry.name!r}"
    return f"decoder {model_entry.architecture.name!r} on encoder {model_entry.encoder!r}"


def names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(entries())


def entry(name: str, encoder: str | None = None) -> ModelEntry:
    """The entry of model `name`, or of decoder `name` on `encoder` (`entry("unet",
    "resnet34")` is `entry("unet_resnet34")`; `encoder` may be spelt as smp spells it, see
    `tfseg.models.encoders.encoder_key`); an unknown name's error names the closest
    valid ones (smp spellings such as `unet_efficientnet-b3` included) and where all are listed.
    """
    table = entries()
    if encoder is not None:
        decoders = sorted(a.name for a in architectures() if a.takes_encoder)
        if name not in decoders:
            raise TfsegError(f"model {name!r} takes no encoder={encoder!r}; decoders that do: {', '.join(decoders)}")
        from tfseg.models.encoders import encoder_key

        name = f"{name}_{encoder_key(encoder)}"
    if name not in table:
        advice = did_you_mean(name, table) or "no name is close"
        raise TfsegError(f"unknown model {name!r}; {advice} (all {len(table)}: tfseg models, or train.py --list-models)")
    return table[name]


def build(
    name: str, input_shape: tuple[int, int, int], classes: int = 1, encoder: str | None = None, **options: Any
) -> keras.Model:
    """Builds the registered model `name`, or decoder `name` on `encoder`.

    `build("unet", (256, 256, 1), encoder="resnet34")` is `build("unet_resnet34", (256, 256, 1))`,
    as segmentation_models.pytorch's `Unet(encoder_name="resnet34")`.

    Args:
        name: str. One of `names()`, or with `encoder` a decoder (`unet`, `fpn`, …).
        input_shape: (height, width, channels), images in [0, 1]. Height and width must be
            multiples of the model's output stride (32 on a pretrained encoder, 2**depth
            for U-Net); DeepLab, MA-Net, PAN and PSPNet need them fixed (not None).
        classes: int. 1 for a binary mask, K for K classes. Defaults to 1.
        encoder: str or None. With a decoder's `name`, a key of
            `tfseg.models.encoders.ENCODERS` to build it on, or its smp spelling
            (`efficientnet-b3`, see `tfseg.models.encoders.encoder_key`). Defaults to None.
        **options: the builder's keyword arguments (see each `build_*` docstring); these
            every builder takes:
            activation: str or None. The output activation: "auto" (sigmoid for one class,
                softmax otherwise), "sigmoid", "softmax" or None for logits. Defaults to "auto".
            and a builder on a pretrained encoder:
            encoder_weights: None, "imagenet" or a weights file path (see
                `tfseg.models.encoders.build_encoder`). Defaults to None.
            encoder_freeze: bool. Build with the encoder frozen (unfreeze later with
                `set_encoder_trainable`). Defaults to False.

    Raises:
        TfsegError: unknown name or encoder (the message lists the valid ones), an encoder
            for a model that takes none, or an unknown option.
    """
    model_entry = entry(name, encoder)
    try:
        return model_entry.build(input_shape, classes, **options)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            raise TfsegError(f"model {model_entry.name!r}: {error}") from None
        raise


def markdown() -> str:
    """The model tables of docs/models.md, generated from the registry: each family's
    architectures with when to use them and their peers, then the encoders."""
    from tfseg.models.encoders import ENCODERS

    peer_names = {"sm": "segmentation_models", "smp": "segmentation_models.pytorch"}
    lines = ["| family | model | when to use it | peers |", "|---|---|---|---|"]
    for architecture in sorted(architectures(), key=lambda a: a.family):
        pattern = f"{architecture.name}_<encoder>" if architecture.takes_encoder else architecture.name
        peers = ", ".join(f"{peer_names[peer]} `{name}`" for peer, name in architecture.peers.items()) or "—"
        lines.append(f"| {architecture.family} | `{pattern}` | {architecture.when} | {peers} |")
    lines += ["", "| `<encoder>` | family | backbone | ImageNet weights from | peers |", "|---|---|---|---|---|"]
    for name, spec in ENCODERS.items():
        peers = ", ".join(f"{peer_names[peer]} `{peer_name}`" for peer, peer_name in spec.peers.items()) or "—"
        lines.append(f"| `{name}` | {spec.family} | {spec.title} | {spec.weights_source} | {peers} |")
    return "\n".join(lines)
