"""Layers shared by the model families: conv blocks, resizing, the output head and the
model around it, size and option checks."""

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


def check_fixed_size(input_shape: tuple[int | None, int | None, int], model: str) -> None:
    """Raises if the input height or width is None (decoders that resize to exact sizes)."""
    if len(input_shape) == 3 and None in tuple(input_shape)[:2]:
        raise TfsegError(f"{model}: needs a fixed input height and width, got {tuple(input_shape)}")


def check_five_strides(values, option: str, model: str) -> None:
    """Raises unless `values` has one value per decoder stride 16, 8, 4, 2 and 1."""
    if len(values) != 5:
        raise TfsegError(f"{model}: {option} needs 5 values (strides 16 to 1), got {list(values)}")


def static_size(x, model: str) -> tuple[int, int]:
    """(height, width) of a feature map; decoders that resize to exact sizes need a fixed
    input size."""
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise TfsegError(f"{model}: needs a fixed input height and width, got a feature of shape {tuple(x.shape)}")
    return int(height), int(width)


def resize_to(x, size: tuple[int, int], name: str):
    """Bilinear resize of `x` to `size` (a `Resizing` layer named `name`)."""
    return keras.layers.Resizing(*size, interpolation="bilinear", name=name)(x)


def upsample_bilinear(x, factor: int, name: str):
    """Bilinear upsampling by `factor` (half-pixel centres), an `UpSampling2D` named `name`."""
    return keras.layers.UpSampling2D(factor, interpolation="bilinear", name=name)(x)


def conv_bn_relu(
    x,
    filters: int,
    name: str,
    batch_norm: bool = True,
    kernel_size: int = 3,
    strides: int = 1,
    dilation: int = 1,
    separable: bool = False,
    use_bias: bool | None = None,
    relu: bool = True,
):
    """Conv2D (same padding) → optional BatchNorm → optional ReLU, layers named
    `{name}_conv|bn|relu`.

    Args:
        x: the input tensor.
        filters: int. Output channels.
        name: str. The prefix of the layer names.
        batch_norm: bool. BatchNorm (momentum 0.9) after the conv. Defaults to True.
        kernel_size: int. Defaults to 3.
        strides: int. Defaults to 1.
        dilation: int. Dilation (atrous) rate. Defaults to 1.
        separable: bool. A depthwise-separable `SeparableConv2D`. Defaults to False.
        use_bias: bool or None. None: a bias only without BatchNorm. Defaults to None.
        relu: bool. End with ReLU. Defaults to True.
    """
    bias = not batch_norm if use_bias is None else use_bias
    if separable:
        conv = keras.layers.SeparableConv2D(
            filters, kernel_size, strides=strides, padding="same", dilation_rate=dilation, use_bias=bias,
            depthwise_initializer="he_normal", pointwise_initializer="he_normal", name=f"{name}_conv",
        )
    else:
        conv = keras.layers.Conv2D(
            filters, kernel_size, strides=strides, padding="same", dilation_rate=dilation, use_bias=bias,
            kernel_initializer="he_normal", name=f"{name}_conv",
        )
    x = conv(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


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


def segmentation_model(inputs, x, classes: int, activation: str | None, name: str) -> keras.Model:
    """The functional model from `inputs` to `segmentation_head(x)`, named `name`; for a
    list of maps (deep supervision), one output per map, heads named `head1`, `head2`, …"""
    if isinstance(x, (list, tuple)):
        outputs = [segmentation_head(y, classes, activation, name=f"head{j}") for j, y in enumerate(x, 1)]
    else:
        outputs = segmentation_head(x, classes, activation)
    return keras.Model(inputs, outputs, name=name)
