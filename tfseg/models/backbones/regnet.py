"""RegNetY backbones: a Keras 3 port of tf.keras 2's `keras.applications.regnet`.

Keras 3's keras.applications has no RegNet. This is the RegNetY part of tf.keras 2
(keras-team/keras, keras/applications/regnet.py; also tf_keras/src/applications/regnet.py)
with the same layers, layer names, padding and layer order, so the published ImageNet
weights (`regnety002_notop.h5` ...) load into it with `model.load_weights(path)` (legacy
HDF5, matched by order). Differences from the source: no classifier head
(include_top=False) and no `{name}_prestem_rescaling` layer; the residual addition and the
squeeze-and-excitation product are named `Add`/`Multiply` layers instead of tf.keras 2's
auto-named TF-op layers. None of these has weights.

Preprocessing: tf.keras 2's RegNet models rescale pixels in [0, 255] by 1/255 (their
`include_preprocessing` prestem is only `Rescaling(1/255)`, no mean/std normalisation), so
the ImageNet weights expect RGB images in [0, 1], mean 0 and std 1.

References:
    Radosavovic et al., "Designing Network Design Spaces", CVPR 2020.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
from keras import layers

from tfseg.errors import TfsegError

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/regnet/"

# SHA-256 of the include_top=False files ("regnety{variant}_notop.h5"), from tf.keras 2's
# WEIGHTS_HASHES (the second hash of each pair there).
WEIGHTS_HASHES = {
    "002": "f63221f63d625b8e201221499682587bfe29d33f50a4c4f4d53be00f66c0f12c",
    "004": "45e6ba8309a17a77e67afc05228454b2e0ee6be0dae65edc0f31f1da10cc066b",
    "008": "b11f5432a216ee640fe9be6e32939defa8d08b8d136349bf3690715a98752ca1",
    "016": "d7404f50205e82d793e219afb9eb2bfeb781b6b2d316a6128c6d7d7dacab7f57",
    "032": "eb3ac1c45ec60f4f031c3f5180573422b1cf7bebc26c004637517372f68f8937",
}

# Depth and output width of the four stages, and the group width of the 3x3 convolutions.
MODEL_CONFIGS = {
    "002": {"depths": (1, 1, 4, 7), "widths": (24, 56, 152, 368), "group_width": 8, "default_size": 224},
    "004": {"depths": (1, 3, 6, 6), "widths": (48, 104, 208, 440), "group_width": 8, "default_size": 224},
    "008": {"depths": (1, 3, 8, 2), "widths": (64, 128, 320, 768), "group_width": 16, "default_size": 224},
    "016": {"depths": (2, 6, 17, 2), "widths": (48, 120, 336, 888), "group_width": 24, "default_size": 224},
    "032": {"depths": (2, 5, 13, 1), "widths": (72, 216, 576, 1512), "group_width": 24, "default_size": 224},
}

_STEM_WIDTH = 32


def _config(variant: str) -> dict:
    if variant not in MODEL_CONFIGS:
        raise TfsegError(f"unknown RegNetY variant {variant!r}; valid: {', '.join(MODEL_CONFIGS)}")
    return MODEL_CONFIGS[variant]


def _bn(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def _stem(x, name: str):
    x = layers.Conv2D(
        _STEM_WIDTH, (3, 3), strides=2, use_bias=False, padding="same",
        kernel_initializer="he_normal", name=name + "_stem_conv",
    )(x)
    x = _bn(name + "_stem_bn")(x)
    return layers.ReLU(name=name + "_stem_relu")(x)


def _squeeze_and_excite(inputs, filters_in: int, se_filters: int, name: str):
    x = layers.GlobalAveragePooling2D(name=name + "_squeeze_and_excite_gap", keepdims=True)(inputs)
    x = layers.Conv2D(
        se_filters, (1, 1), activation="relu", kernel_initializer="he_normal",
        name=name + "_squeeze_and_excite_squeeze",
    )(x)
    x = layers.Conv2D(
        filters_in, (1, 1), activation="sigmoid", kernel_initializer="he_normal",
        name=name + "_squeeze_and_excite_excite",
    )(x)
    # tf.keras 2: tf.math.multiply(x, inputs), in this operand order.
    return layers.Multiply(name=name + "_squeeze_and_excite_multiply")([x, inputs])


def _y_block(inputs, filters_in: int, filters_out: int, group_width: int, stride: int, name: str,
             squeeze_excite_ratio: float = 0.25):
    if filters_in != filters_out and stride == 1:
        raise ValueError(f"RegNetY block {name}: {filters_in} -> {filters_out} filters needs stride 2")
    groups = filters_out // group_width
    se_filters = int(filters_in * squeeze_excite_ratio)

    if stride != 1:
        skip = layers.Conv2D(
            filters_out, (1, 1), strides=stride, use_bias=False, kernel_initializer="he_normal",
            name=name + "_skip_1x1",
        )(inputs)
        skip = _bn(name + "_skip_bn")(skip)
    else:
        skip = inputs

    x = layers.Conv2D(
        filters_out, (1, 1), use_bias=False, kernel_initializer="he_normal", name=name + "_conv_1x1_1",
    )(inputs)
    x = _bn(name + "_conv_1x1_1_bn")(x)
    x = layers.ReLU(name=name + "_conv_1x1_1_relu")(x)

    x = layers.Conv2D(
        filters_out, (3, 3), use_bias=False, strides=stride, groups=groups, padding="same",
        kernel_initializer="he_normal", name=name + "_conv_3x3",
    )(x)
    x = _bn(name + "_conv_3x3_bn")(x)
    x = layers.ReLU(name=name + "_conv_3x3_relu")(x)

    x = _squeeze_and_excite(x, filters_out, se_filters, name)

    x = layers.Conv2D(
        filters_out, (1, 1), use_bias=False, kernel_initializer="he_normal", name=name + "_conv_1x1_2",
    )(x)
    x = _bn(name + "_conv_1x1_2_bn")(x)

    # tf.keras 2: x + skip, in this operand order.
    x = layers.Add(name=name + "_add")([x, skip])
    return layers.ReLU(name=name + "_exit_relu")(x)


def _block_name(model_name: str, stage: int, block: int) -> str:
    return f"{model_name}_Stage_{stage}_YBlock_{block}"


def regnety_features(variant: str) -> dict[int, str]:
    """The layers whose outputs are the RegNetY features, by output stride.

    Args:
        variant: str. "002", "004", "008", "016" or "032".

    Returns:
        dict. {2: the stem's ReLU, 4/8/16/32: the exit ReLU of the last block of stage
        1/2/3/4}, layer names of the model that `build_regnety(variant, ...)` returns.

    Raises:
        TfsegError: unknown variant.
    """
    depths = _config(variant)["depths"]
    model_name = f"regnety{variant}"
    features = {2: f"{model_name}_stem_relu"}
    for stage, depth in enumerate(depths):
        features[4 * 2**stage] = _block_name(model_name, stage, depth - 1) + "_exit_relu"
    return features


def _first_line(error: BaseException | Warning, limit: int = 400) -> str:
    """The gist of an error in one line (Keras' "could not be loaded ... for object <...>:"
    is followed by the actual reason on the next line, without the variable's values)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    text = lines[0]
    if text.endswith(":") and len(lines) > 1:
        text += " " + lines[1].split(" Target variable:")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_regnety_weights(model: keras.Model, path: str | Path) -> None:
    """Load a weights file into a RegNetY model built by `build_regnety`.

    Args:
        model: keras.Model. The backbone.
        path: str or Path. The published tf.keras 2 `regnety{variant}_notop.h5` (legacy
            HDF5, matched by layer order as tf.keras 2 did) or a `.weights.h5` saved from
            this model.

    Raises:
        TfsegError: the file is missing, not a weights file or does not match the model.
    """
    path = Path(path)
    if not path.is_file():
        raise TfsegError(f"encoder_weights: file {path} does not exist (expected RegNetY weights for {model.name})")
    with warnings.catch_warnings(record=True) as caught:
        # A `.weights.h5` whose layers do not all match only warns ("Skipping ...").
        warnings.simplefilter("always", UserWarning)
        try:
            model.load_weights(str(path))
        except Exception as error:  # ValueError (count/shape), KeyError, OSError (not HDF5)
            raise TfsegError(
                f"encoder_weights: {path} does not match the {model.name} backbone ({_first_line(error)})"
            ) from error
    mismatches = [w.message for w in caught if issubclass(w.category, UserWarning)]
    if mismatches:
        raise TfsegError(
            f"encoder_weights: {path} does not match the {model.name} backbone ({_first_line(mismatches[0])})"
        )


def build_regnety(variant: str, input_shape, weights: str | Path | None = None) -> keras.Model:
    """Build RegNetY{variant} without its classifier (tf.keras 2 include_top=False).

    The model takes images already normalised for the weights (RGB in [0, 1]; see the module
    docstring) and returns the last stage's output (stride 32); its layers are named
    `regnety{variant}_...` exactly as in tf.keras 2.

    Args:
        variant: str. "002", "004", "008", "016" or "032".
        input_shape: tuple. (height, width, 3); height and width may be None.
        weights: None (random initialisation) or a weights file path: the published
            `BASE_WEIGHTS_PATH + regnety{variant}_notop.h5` (what `--encoder-weights imagenet`
            reads, SHA-256 checked: `tfseg.models.imagenet_weights`) or a `.weights.h5`.

    Returns:
        keras.Model named `regnety{variant}`.

    Raises:
        TfsegError: unknown variant or a weights file that does not match.
    """
    config = _config(variant)
    model_name = f"regnety{variant}"
    inputs = keras.Input(shape=tuple(input_shape), name="input_layer")
    x = _stem(inputs, model_name)
    filters_in = _STEM_WIDTH
    for stage, (depth, filters_out) in enumerate(zip(config["depths"], config["widths"])):
        x = _y_block(x, filters_in, filters_out, config["group_width"], 2, _block_name(model_name, stage, 0))
        for block in range(1, depth):
            x = _y_block(x, filters_out, filters_out, config["group_width"], 1, _block_name(model_name, stage, block))
        filters_in = filters_out
    model = keras.Model(inputs, x, name=model_name)

    if weights is not None:
        load_regnety_weights(model, weights)
    return model
