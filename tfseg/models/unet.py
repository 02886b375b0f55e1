"""U-Net (Ronneberger et al. 2015, https://arxiv.org/abs/1505.04597)."""

from __future__ import annotations

import keras

from tfseg.models.blocks import check_input_shape, double_conv, segmentation_head


def build_unet(
    input_shape: tuple[int, int, int],
    classes: int = 1,
    activation: str | None = "auto",
    depth: int = 4,
    base_filters: int = 16,
    batch_norm: bool = True,
    dropout: float = 0.0,
) -> keras.Model:
    """Builds the original U-Net: two 3×3 convs per level, max-pooling down,
    2×2 transposed convolutions up, skip concatenation.

    Args:
        input_shape: (height, width, channels). Height and width must be multiples of 2**depth.
        classes: int. 1 for a binary mask, K for K classes. Defaults to 1.
        activation: str or None. Output activation: "auto" (sigmoid for 1 class, softmax
            otherwise), "sigmoid", "softmax" or None for logits. Defaults to "auto".
        depth: int. Number of pooling stages. Defaults to 4 (as in the paper).
        base_filters: int. Filters of the first level, doubled at each level. The paper
            used 64 (16x the compute); 16 trains on a laptop CPU. Defaults to 16.
        batch_norm: bool. BatchNorm after every conv. Defaults to True.
        dropout: float. Dropout rate at the end of the contracting path (the paper's 0.5);
            0 disables it. Defaults to 0.0.

    Returns:
        A functional `keras.Model` named "unet".
    """
    check_input_shape(input_shape, 2**depth, "unet")
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = double_conv(x, base_filters * 2**level, f"enc{level + 1}", batch_norm)
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
    x = double_conv(x, base_filters * 2**depth, "bottleneck", batch_norm)
    if dropout:
        x = keras.layers.Dropout(dropout, name="bottleneck_dropout")(x)
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = keras.layers.Conv2DTranspose(filters, 2, strides=2, name=f"dec{level + 1}_up")(x)
        x = keras.layers.Concatenate(name=f"dec{level + 1}_concat")([x, skips[level]])
        x = double_conv(x, filters, f"dec{level + 1}", batch_norm)
    outputs = segmentation_head(x, classes, activation)
    return keras.Model(inputs, outputs, name="unet")
