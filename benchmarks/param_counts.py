"""Parameter counts of tfseg's models beside the same architecture and encoder in
segmentation_models (Keras) and segmentation_models.pytorch, counted in one run.

The rows come from the registry: every decoder that names a peer builder
(`Architecture.peers`) on every encoder that names the same backbone in that peer
(`EncoderSpec.peers`). Peers are never tfseg dependencies: install them where you run
this (see docs/models.md#parameter-counts for the venv), e.g.

    HF_HUB_OFFLINE=1 SM_FRAMEWORK=tf.keras /tmp/peer-venv/bin/python benchmarks/param_counts.py

Prints a Markdown table (256×256×3 input, one output class, random weights; 384×384 for
segmentation_models' PSPNet, which needs a multiple of 48; the counts do not depend on
the input size). Keras counts every weight, BatchNorm's moving mean and variance
included, so the PyTorch count is its parameters plus the BatchNorm running mean and
variance buffers. A peer that is not installed reads "not installed", a combination a
peer lacks "—".
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SM_FRAMEWORK", "tf.keras")

try:  # PyTorch before TensorFlow: the other order crashed the process (torch 2.14.1, TF 2.21)
    import segmentation_models_pytorch as smp
except ImportError:
    smp = None

import keras  # noqa: E402

from tfseg import models  # noqa: E402
from tfseg.models.encoders import ENCODERS  # noqa: E402

SHAPE = (256, 256, 3)


def _segmentation_models():
    try:
        with contextlib.redirect_stdout(sys.stderr):  # it prints its framework on import
            import segmentation_models as sm
    except ImportError:
        return None
    return sm


def sm_count(entry) -> str:
    """Parameter count of the segmentation_models equivalent of a model entry."""
    builder, backbone = entry.architecture.peers.get("sm"), ENCODERS[entry.encoder].peers.get("sm")
    if builder is None or backbone is None:
        return "—"
    sm = _segmentation_models()
    if sm is None:
        return "not installed"
    shape = (384, 384, 3) if builder == "PSPNet" else SHAPE
    try:
        peer = getattr(sm, builder)(backbone, input_shape=shape, classes=1, encoder_weights=None)
    except Exception as error:  # its Keras-Applications 1.0.8 backbones predate Keras 3
        return f"fails ({type(error).__name__})"
    count = peer.count_params()
    keras.utils.clear_session()
    return f"{count:,}"


def smp_count(entry) -> str:
    """Parameter count (parameters + BatchNorm running statistics) of the
    segmentation_models.pytorch equivalent of a model entry."""
    builder, encoder = entry.architecture.peers.get("smp"), ENCODERS[entry.encoder].peers.get("smp")
    if builder is None or encoder is None:
        return "—"
    if smp is None:
        return "not installed"
    try:
        peer = getattr(smp, builder)(encoder, encoder_weights=None, in_channels=3, classes=1)
    except Exception as error:  # e.g. an encoder smp cannot make dilated
        return f"fails ({type(error).__name__})"
    statistics = [buffer for key, buffer in peer.named_buffers() if key.endswith(("running_mean", "running_var"))]
    return f"{sum(tensor.numel() for tensor in [*peer.parameters(), *statistics]):,}"


def rows(selected: list[str] | None):
    """The model entries that have a peer, in registry order (or those named)."""
    for name, entry in models.entries().items():
        if selected and name not in selected:
            continue
        if entry.encoder is None:
            continue
        peers = entry.architecture.peers.keys() & ENCODERS[entry.encoder].peers.keys()
        if peers:
            yield entry


def ratio(count: int, peer: str) -> str:
    digits = peer.replace(",", "")
    return f"{count / int(digits) - 1:+.1%}" if digits.isdigit() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", metavar="NAME", help="only these registered names (default: every one with a peer)")
    args = parser.parse_args()
    versions = {
        "sm": getattr(_segmentation_models(), "__version__", "not installed"),
        "smp": getattr(smp, "__version__", "not installed"),
    }
    print(f"| name | family | tfseg | segmentation_models {versions['sm']} | vs sm | "
          f"segmentation_models.pytorch {versions['smp']} | vs smp |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for entry in rows(args.models):
        count = entry.build(SHAPE, 1).count_params()
        keras.utils.clear_session()
        sm, torch_count = sm_count(entry), smp_count(entry)
        print(f"| `{entry.name}` | {entry.family} | {count:,} | {sm} | {ratio(count, sm)} | {torch_count} | "
              f"{ratio(count, torch_count)} |", flush=True)


if __name__ == "__main__":
    main()
