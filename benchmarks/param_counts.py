"""Parameter counts of tfseg's models beside the equivalent segmentation_models (Keras)
and segmentation_models.pytorch models.

Peers are never tfseg dependencies: install them where you run this, e.g.

    python -m venv --system-site-packages /tmp/peer-venv
    /tmp/peer-venv/bin/pip install segmentation-models==1.0.1 torch==2.14.1 torchvision==0.29.1 \
        segmentation-models-pytorch==0.6.0
    SM_FRAMEWORK=tf.keras /tmp/peer-venv/bin/python benchmarks/param_counts.py [--all]

Prints a Markdown table (256×256×3 input, one output class, random weights). A peer
that is not installed reads "not installed". segmentation_models has U-Net and LinkNet
but no U-Net++, and its ResNets come from image-classifiers (not keras.applications),
so those rows compare different ResNet implementations. segmentation_models.pytorch's
encoders are torchvision's (ResNet v1, VGG without batch norm, DenseNet, MobileNetV2)
and lukemelas' EfficientNet; it has no ResNet v2. Keras counts every weight, BatchNorm's
moving mean and variance included, so the PyTorch count is its parameters plus the
BatchNorm running mean and variance buffers.
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

FAMILIES = {"unet": "U-Net", "unetpp": "U-Net++", "segnet": "SegNet", "linknet": "LinkNet"}
PLAIN_ENCODERS = {
    "unet": "own: 4 levels, 16 filters, max-pool, transposed conv",
    "unet_upsample": "own: 4 levels, 16 filters, max-pool, nearest + conv",
    "unet_convpool": "own: 4 levels, 16 filters, strided conv, transposed conv",
    "unetpp": "own: 4 levels, 16 filters",
    "segnet": "own: VGG16-style, 16 filters",
    "linknet": "own: ResNet-18-style, 16 filters",
    "segnet_vgg16": "VGG16",
}
# segmentation_models backbone names for tfseg's encoders (None: no equivalent).
SM_BACKBONES = {
    **{f"effb{i}": f"efficientnetb{i}" for i in range(8)},
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "vgg16": "vgg16",
    "vgg19": "vgg19",
    "densenet121": "densenet121",
    "mobilenetv2": "mobilenetv2",
}
# segmentation_models.pytorch encoder and decoder names.
SMP_ENCODERS = {
    **{f"effb{i}": f"efficientnet-b{i}" for i in range(8)},
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "vgg16": "vgg16",
    "vgg19": "vgg19",
    "densenet121": "densenet121",
    "mobilenetv2": "mobilenet_v2",
}
SMP_DECODERS = {"unet": "Unet", "unetpp": "UnetPlusPlus", "linknet": "Linknet"}
SUBSET = list(PLAIN_ENCODERS) + [
    f"{decoder}_{encoder}"
    for decoder in ("unet", "linknet", "unetpp")
    for encoder in ("effb0", "effb3", "resnet50", "vgg16", "densenet121", "mobilenetv2")
]
SHAPE = (256, 256, 3)


def describe(name: str) -> tuple[str, str]:
    """(family, encoder) of a registered model name."""
    decoder, _, encoder = name.partition("_")
    if name in PLAIN_ENCODERS:
        return FAMILIES[decoder], PLAIN_ENCODERS[name]
    return FAMILIES[decoder], f"keras.applications {ENCODERS[encoder].application}"


def segmentation_models_count(name: str) -> str:
    """Parameter count of the segmentation_models equivalent of `name`, or why there is none."""
    try:
        with contextlib.redirect_stdout(sys.stderr):  # it prints its framework on import
            import segmentation_models as sm
    except ImportError:
        return "not installed"
    decoder, _, encoder = name.partition("_")
    builders = {"unet": sm.Unet, "linknet": sm.Linknet}
    if decoder not in builders or encoder not in SM_BACKBONES:
        return "—"
    try:
        peer = builders[decoder](SM_BACKBONES[encoder], input_shape=SHAPE, classes=1, encoder_weights=None)
    except Exception as error:  # its Keras-Applications 1.0.8 backbones predate Keras 3
        return f"fails on Keras 3 ({type(error).__name__})"
    return f"{peer.count_params():,}"


def smp_count(name: str) -> str:
    """Parameter count (parameters + BatchNorm running statistics) of the
    segmentation_models.pytorch equivalent of `name`, or why there is none."""
    if smp is None:
        return "not installed"
    decoder, _, encoder = name.partition("_")
    if decoder not in SMP_DECODERS or encoder not in SMP_ENCODERS:
        return "—"
    peer = getattr(smp, SMP_DECODERS[decoder])(SMP_ENCODERS[encoder], encoder_weights=None, in_channels=3, classes=1)
    statistics = [buffer for key, buffer in peer.named_buffers() if key.endswith(("running_mean", "running_var"))]
    return f"{sum(tensor.numel() for tensor in [*peer.parameters(), *statistics]):,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every registered model (default: a subset)")
    args = parser.parse_args()
    print("| name | family | encoder | parameters | segmentation_models 1.0.1 | segmentation_models.pytorch 0.6.0 |")
    print("|---|---|---|---:|---:|---:|")
    for name in models.names() if args.all else SUBSET:
        family, encoder = describe(name)
        count = models.build(name, SHAPE, 1).count_params()
        print(f"| `{name}` | {family} | {encoder} | {count:,} | {segmentation_models_count(name)} | {smp_count(name)} |", flush=True)
        keras.utils.clear_session()


if __name__ == "__main__":
    main()
