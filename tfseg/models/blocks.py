"""Layers shared by the model families: conv blocks, the output head, size checks."""

from __future__ import annotations

from typing import Iterator

import keras

from tfseg.errors import TfsegError


def leaf_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer of `model` that is not itself a model, those of nested models (e.g. a
    keras.applications encoder) included, in order."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer


def check_input_shape(input_shape: tuple[int | None, int | None, int], stride: int, model: str) -> None:
    """Raises if H or W is not a multiple of the model's output stride.

    The error names the stride and the nearest valid sizes.
    """
    if len(input_shape) != 3:
        raise TfsegError(f"{model}: input_shape must be (height, width, channels), got {tuple(input_shape)}")
    for axis, size in zip(("height", "width"), input_shape[:2]):
        if size is None or size % stride == 0:
            continue
        lower = max(stride, size // stride * stride)
        upper = (size // stride + 1) * stride
        raise TfsegError(
            f"{model}: input {axis} {size} is not a multiple of the output stride {stride}; "
            f"nearest valid sizes: {lower} or {upper}"
        )


def conv_bn_relu(x, filters: int, name: str, batch_norm: bool = True, kernel_size: int = 3, strides: int = 1):
    """Conv2D (same padding) → optional BatchNorm → ReLU, layers named `{name}_conv|bn|relu`."""
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=not batch_norm,
        kernel_initializer="he_normal", name=f"{name}_conv",
    )(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def double_conv(x, filters: int, name: str, batch_norm: bool = True):
    """Two 3×3 conv_bn_relu layers, the U-Net block (`{name}_1`, `{name}_2`)."""
    x = conv_bn_relu(x, filters, f"{name}_1", batch_norm)
    return conv_bn_relu(x, filters, f"{name}_2", batch_norm)


def segmentation_head(x, classes: int, activation: str | None, name: str = "head"):
    """1×1 conv to `classes` channels, then the output activation in float32.

    Args:
        classes: int. 1 for binary, K for multi-class.
        activation: str or None. "sigmoid", "softmax", or None for logits. "auto" picks
            sigmoid for one class and softmax otherwise.
    """
    if activation == "auto":
        activation = "sigmoid" if classes == 1 else "softmax"
    x = keras.layers.Conv2D(classes, 1, name=f"{name}_conv")(x)
    return keras.layers.Activation(activation or "linear", dtype="float32", name=f"{name}_{activation or 'logits'}")(x)
