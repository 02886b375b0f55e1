"""ResNet-18 and ResNet-34 in Keras 3 with torchvision's layer layout and ImageNet weights.

The layers are torchvision's `resnet18`/`resnet34` (BasicBlock; blocks per stage
(2, 2, 2, 2) and (3, 4, 6, 3)) without the classifier (`avgpool`, `fc`): conv1 7×7/2 →
bn1 → relu → maxpool 3×3/2 → layer1 … layer4; the output is layer4's (stride 32). Each
layer with weights is named after its torchvision state-dict prefix ("conv1", "bn1",
"layer2.0.conv1", "layer2.0.downsample.0", …; Keras 3 allows "." in layer names), so
`load_torchvision_weights` maps the keys of `resnet18-f37072fd.pth` /
`resnet34-b627a593.pth` one to one. Layers without weights are named after their
module too: "relu" (the stem's ReLU), "maxpool", and per block "layerX.Y.relu1" (after
bn1), "layerX.Y.add" and "layerX.Y.out" (the ReLU after the addition: the block's
output). Padding is PyTorch's: a `ZeroPadding2D` named "<conv>.pad" of k // 2 on every
side, then a "valid" convolution, so a stride-2 convolution samples the same pixels as
PyTorch's (TF's "same" pads the bottom/right only). The max-pooling pads with zeros
where PyTorch pads with -inf, which gives the same result because its input is a ReLU
output (≥ 0) and every window holds at least one input pixel. BatchNormalization has
PyTorch's epsilon 1e-5 and momentum 0.9 (PyTorch's 0.1).

The features for a segmentation decoder, by output stride, are the outputs of the
layers named in `feature_layers(depth)`: 2 "relu", 4 / 8 / 16 / 32 the last block's
"….out" of layer1 / layer2 / layer3 / layer4.

The ImageNet weights expect RGB images in [0, 1] normalised with mean (0.485, 0.456,
0.406) and std (0.229, 0.224, 0.225).
"""

from __future__ import annotations


import keras
import numpy as np
from keras import layers

from tfseg.errors import TfsegError
from tfseg.models.backbones.torch_checkpoint import read_state_dict

BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
STAGE_FILTERS = (64, 128, 256, 512)

IMAGENET_URLS = {
    18: "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    34: "https://download.pytorch.org/models/resnet34-b627a593.pth",
}
# Full SHA-256 of the two files. torchvision publishes only the first 8 hex digits (in the
# file names, checked by torch.hub's check_hash); the full digests are the ones pinned,
# identically and independently, by several unrelated public projects, and they begin
# with those 8 digits. `--encoder-weights imagenet` refuses a file that does not match
# (`tfseg.models.imagenet_weights`).
IMAGENET_SHA256 = {
    18: "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
    34: "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f",
}

# Checkpoint entries that the backbone does not use: the classifier and BatchNorm's
# update counters.
_IGNORED_PREFIXES = ("fc.",)
_IGNORED_SUFFIXES = (".num_batches_tracked",)
_BN_KEYS = (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"), ("running_var", "moving_variance"))


def keras_name(torch_key_prefix: str) -> str:
    """The Keras layer name of a torchvision module prefix, e.g. "layer1.0.conv1".

    Keras 3 allows "." in layer names, so the names are torchvision's own; "/" (which
    Keras forbids) never occurs in torchvision's keys.
    """
    if "/" in torch_key_prefix:
        raise ValueError(f"not a torchvision module prefix: {torch_key_prefix!r}")
    return torch_key_prefix


def feature_layers(depth: int) -> dict[int, str]:
    """Output stride → name of the layer whose output is the feature at that stride.

    resnet18: {2: "relu", 4: "layer1.1.out", 8: "layer2.1.out", 16: "layer3.1.out",
    32: "layer4.1.out"}; resnet34: {2: "relu", 4: "layer1.2.out", 8: "layer2.3.out",
    16: "layer3.5.out", 32: "layer4.2.out"}.
    """
    blocks = _blocks(depth)
    features = {2: "relu"}
    for stage, count in enumerate(blocks):
        features[4 * 2**stage] = f"layer{stage + 1}.{count - 1}.out"
    return features


def _blocks(depth: int) -> tuple[int, ...]:
    if depth not in BLOCKS:
        raise TfsegError(f"ResNet depth must be one of {sorted(BLOCKS)}, got {depth!r}")
    return BLOCKS[depth]


def _conv(x, filters: int, kernel: int, stride: int, name: str):
    """PyTorch's Conv2d(kernel, stride, padding=kernel // 2, bias=False)."""
    if kernel // 2:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}.pad")(x)
    return layers.Conv2D(
        filters, kernel, strides=stride, padding="valid", use_bias=False, name=keras_name(name),
        # torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu")
        kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"),
    )(x)


def _bn(x, name: str):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=keras_name(name))(x)


def _basic_block(x, filters: int, stride: int, name: str):
    """torchvision's BasicBlock: conv3×3/stride-bn-relu-conv3×3-bn, + shortcut, relu."""
    shortcut = x
    y = _conv(x, filters, 3, stride, f"{name}.conv1")
    y = _bn(y, f"{name}.bn1")
    y = layers.ReLU(name=f"{name}.relu1")(y)
    y = _conv(y, filters, 3, 1, f"{name}.conv2")
    y = _bn(y, f"{name}.bn2")
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv(x, filters, 1, stride, f"{name}.downsample.0")
        shortcut = _bn(shortcut, f"{name}.downsample.1")
    y = layers.Add(name=f"{name}.add")([y, shortcut])
    return layers.ReLU(name=f"{name}.out")(y)


def build_resnet(depth: int, input_shape, weights=None) -> keras.Model:
    """Builds torchvision's ResNet-18 or ResNet-34 without the classifier.

    Args:
        depth: int. 18 or 34.
        input_shape: (height, width, channels); height and width may be None. Any size
            works (PyTorch's floor((n + 2p - k) / s) + 1 output sizes); a decoder that
            joins the features needs multiples of 32.
        weights: None (random, torchvision's initialisation) or the path of a torchvision
            resnet18/34 state dict (.pth, see `load_torchvision_weights`; torchvision's
            IMAGENET1K_V1 files are `IMAGENET_URLS`). Pretrained weights need 3 input
            channels. Defaults to None.

    Returns:
        A functional `keras.Model` named "resnet18"/"resnet34" whose input is named
        "input" and whose output is layer4's (stride 32, 512 channels); the other features
        are the outputs of the layers in `feature_layers(depth)`.

    Raises:
        TfsegError: unknown depth, a bad input shape, pretrained weights with other than 3
            channels, or a weights file that is not a matching checkpoint.
    """
    blocks = _blocks(depth)
    name = f"resnet{depth}"
    if len(tuple(input_shape)) != 3:
        raise TfsegError(f"{name}: input_shape must be (height, width, channels), got {tuple(input_shape)}")
    if weights is not None and input_shape[-1] != 3:
        raise TfsegError(
            f"{name}: pretrained weights ({weights}) need 3 input channels, got input_shape {tuple(input_shape)}"
        )
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = _conv(inputs, 64, 7, 2, "conv1")
    x = _bn(x, "bn1")
    x = layers.ReLU(name="relu")(x)
    x = layers.ZeroPadding2D(1, name="maxpool.pad")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="maxpool")(x)
    for stage, (count, filters) in enumerate(zip(blocks, STAGE_FILTERS)):
        for block in range(count):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, filters, stride, f"layer{stage + 1}.{block}")
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        load_torchvision_weights(model, weights)
    return model


def _targets(model: keras.Model) -> dict[str, tuple[object, bool]]:
    """torchvision key → (Keras variable, is a conv kernel) for every weight of `model`."""
    targets: dict[str, tuple[object, bool]] = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        if isinstance(layer, layers.Conv2D) and not layer.use_bias:
            targets[f"{layer.name}.weight"] = (layer.kernel, True)
        elif isinstance(layer, layers.BatchNormalization) and layer.center and layer.scale:
            for torch_key, attribute in _BN_KEYS:
                targets[f"{layer.name}.{torch_key}"] = (getattr(layer, attribute), False)
        else:
            raise TfsegError(f"{model.name}: layer {layer.name!r} ({type(layer).__name__}) has no torchvision keys")
    covered = {id(variable) for variable, _ in targets.values()}
    if len(covered) != len(targets) or covered != {id(variable) for variable in model.weights}:
        raise TfsegError(f"{model.name}: its weights do not map one to one onto torchvision keys")
    return targets


def _ignored(key: str) -> bool:
    return key.startswith(_IGNORED_PREFIXES) or key.endswith(_IGNORED_SUFFIXES)


def load_torchvision_weights(model: keras.Model, path) -> None:
    """Loads a torchvision ResNet state dict (.pth, torch.save's zip format) into `model`.

    Conv weights (out, in, kh, kw) become kernels (kh, kw, in, out); BatchNorm weight,
    bias, running_mean and running_var become gamma, beta, moving_mean and
    moving_variance; `fc.*` and `*.num_batches_tracked` are ignored. Every weight of
    the model is set exactly once and every other checkpoint tensor used exactly once;
    nothing is set unless all of them match.

    Args:
        model: a model from `build_resnet` (3 input channels), or any model whose layers
            with weights are bias-free Conv2D and BatchNormalization layers named after
            torchvision module prefixes.
        path: str or Path of the checkpoint, e.g. `resnet34-b627a593.pth`.

    Raises:
        TfsegError: one line naming the file and the first missing or unexpected key, or
            the first shape mismatch; or the file cannot be read (see `read_state_dict`).
    """
    state = read_state_dict(path)
    targets = _targets(model)
    missing = [key for key in targets if key not in state]
    unexpected = [key for key in state if key not in targets and not _ignored(key)]
    what = f"not a torchvision {model.name} checkpoint"
    if missing:
        raise TfsegError(f"{path}: {what}: key {missing[0]!r} is missing ({len(missing)} keys missing)")
    if unexpected:
        raise TfsegError(f"{path}: {what}: unexpected key {unexpected[0]!r} ({len(unexpected)} unexpected keys)")
    values = []
    for key, (variable, is_kernel) in targets.items():
        value = state[key]
        want = tuple(variable.shape)
        if is_kernel:
            want = (want[3], want[2], want[0], want[1])  # HWIO as PyTorch's OIHW
        if value.shape != want:
            raise TfsegError(
                f"{path}: {what}: {key!r} has shape {value.shape}, {model.name} needs {want}"
            )
        if not np.issubdtype(value.dtype, np.floating):
            raise TfsegError(f"{path}: {what}: {key!r} has dtype {value.dtype}, expected floating point")
        values.append((variable, value.transpose(2, 3, 1, 0) if is_kernel else value))
    for variable, value in values:
        variable.assign(value.astype(variable.dtype))
