"""The TF-native augmentation engine: the named transforms of `tfseg.transforms`
applied to whole batches inside tf.data.

It is built for throughput. Every geometric transform that is a 3x3 matrix (flips, rotate90,
transpose, affine, perspective, random resized crop) is composed into one matrix per image,
and the batch is resampled ONCE with `ImageProjectiveTransformV3` (bilinear for images,
nearest for label maps, zero fill = background). Elastic deformation follows as a second
resample. Pixel transforms then run on the whole batch, each with per-image random
parameters. Masks are label maps (before one-hot) and only ever move: no new label values
appear.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import tensorflow as tf

from tfseg.transforms import MATRIX_TRANSFORMS, Transform

# ---------------------------------------------------------------------------------------------
# Random numbers: every transform draws from its own stateless stream, so a batch depends only
# on its seed (reproducible whatever the thread scheduling).


def _uniform(seed: tf.Tensor, shape: list, low: float, high: float) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high)


def _applied(seed: tf.Tensor, batch: tf.Tensor, probability: float) -> tf.Tensor:
    """(B,) bool: which images a transform with probability `probability` is applied to."""
    return tf.random.stateless_uniform([batch], seed=seed) < probability


def _identity(batch: tf.Tensor) -> tf.Tensor:
    return tf.eye(3, batch_shape=[batch])


def _matrix(rows: list[list[Any]]) -> tf.Tensor:
    """(B,3,3) from nested lists of (B,) tensors or numbers, broadcast to the batch."""
    return tf.stack([tf.stack(row, axis=-1) for row in rows], axis=-2)


def _inverse_matrix(transform: Transform, seed: tf.Tensor, batch: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """(B,3,3) matrices that map an output pixel (x, y, 1) to where it is sampled in the input."""
    seeds = tf.random.experimental.stateless_split(seed, 8)
    params = transform.params
    zeros, ones = tf.zeros([batch]), tf.ones([batch])
    center_x, center_y = (width - 1) / 2.0, (height - 1) / 2.0
    if transform.name == "horizontal_flip":
        inverse = _matrix([[-ones, zeros, ones * (width - 1)], [zeros, ones, zeros], [zeros, zeros, ones]])
    elif transform.name == "vertical_flip":
        inverse = _matrix([[ones, zeros, zeros], [zeros, -ones, ones * (height - 1)], [zeros, zeros, ones]])
    elif transform.name == "transpose":
        inverse = _matrix([[zeros, ones, zeros], [ones, zeros, zeros], [zeros, zeros, ones]])
    elif transform.name == "rotate90":
        # np.rot90 k times (counter-clockwise): out[y, x] = in[x, n-1-y] per quarter turn.
        quarter = np.array([[0, -1, width - 1], [1, 0, 0], [0, 0, 1]], np.float64)
        powers = np.stack([np.linalg.matrix_power(quarter, k) for k in range(4)]).astype(np.float32)
        turns = tf.random.stateless_uniform([batch], seed=seeds[1], minval=0, maxval=4, dtype=tf.int32)
        inverse = tf.gather(tf.constant(powers), turns)
    elif transform.name == "affine":
        scale = _uniform(seeds[1], [batch], *params["scale"])
        angle = _uniform(seeds[2], [batch], *params["rotate"]) * (math.pi / 180.0)
        shift_x = _uniform(seeds[3], [batch], *params["translate"]) * width
        shift_y = _uniform(seeds[4], [batch], *params["translate"]) * height
        shear_x = tf.tan(_uniform(seeds[5], [batch], *params["shear"]) * (math.pi / 180.0))
        shear_y = tf.tan(_uniform(seeds[6], [batch], *params["shear"]) * (math.pi / 180.0))
        cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
        linear = tf.matmul(
            _matrix([[cos, -sin, zeros], [sin, cos, zeros], [zeros, zeros, ones]]),
            _matrix([[ones, shear_x, zeros], [shear_y, ones, zeros], [zeros, zeros, ones]]),
        )
        to_origin = _matrix([[ones, zeros, -center_x * ones], [zeros, ones, -center_y * ones], [zeros, zeros, ones]])
        back = _matrix([[ones, zeros, center_x + shift_x], [zeros, ones, center_y + shift_y], [zeros, zeros, ones]])
        inverse = tf.linalg.inv(back @ linear @ to_origin)
    elif transform.name == "perspective":
        # As albumentations: each corner moves inwards by |N(0, s)| x size; that quadrilateral
        # is stretched to the full frame.
        spread = _uniform(seeds[1], [batch, 1, 1], *params["scale"])
        jitter = tf.abs(tf.random.stateless_normal([batch, 4, 2], seed=seeds[2])) * spread * [width - 1, height - 1]
        frame = tf.constant([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], tf.float32)
        inwards = tf.constant([[1, 1], [-1, 1], [-1, -1], [1, -1]], tf.float32)
        inverse = _homography(tf.broadcast_to(frame, [batch, 4, 2]), frame + inwards * jitter)
    elif transform.name == "random_resized_crop":
        area = _uniform(seeds[1], [batch], *params["scale"]) * (height * width)
        log_ratio = _uniform(seeds[2], [batch], math.log(params["ratio"][0]), math.log(params["ratio"][1]))
        crop_w = tf.minimum(tf.sqrt(area * tf.exp(log_ratio)), float(width))
        crop_h = tf.minimum(tf.sqrt(area / tf.exp(log_ratio)), float(height))
        left = _uniform(seeds[3], [batch], 0.0, 1.0) * (width - crop_w)
        top = _uniform(seeds[4], [batch], 0.0, 1.0) * (height - crop_h)
        step_x, step_y = crop_w / width, crop_h / height  # pixel-centre aligned: x_in + 0.5 = left + (x + 0.5) * step
        inverse = _matrix(
            [[step_x, zeros, left + 0.5 * step_x - 0.5], [zeros, step_y, top + 0.5 * step_y - 0.5], [zeros, zeros, ones]]
        )
    else:
        raise ValueError(f"{transform.name} is not a matrix transform")
    applied = _applied(seeds[0], batch, transform.p)
    return tf.where(applied[:, None, None], inverse, _identity(batch))


def _homography(source: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """(B,3,3) homographies mapping 4 `source` points (B,4,2) onto 4 `target` points."""
    x, y = source[..., 0], source[..., 1]
    u, v = target[..., 0], target[..., 1]
    zeros, ones = tf.zeros_like(x), tf.ones_like(x)
    rows_u = tf.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], axis=-1)
    rows_v = tf.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], axis=-1)
    system = tf.concat([rows_u, rows_v], axis=1)
    values = tf.concat([u, v], axis=1)[..., None]
    solution = tf.linalg.solve(tf.cast(system, tf.float64), tf.cast(values, tf.float64))
    solution = tf.cast(solution[..., 0], tf.float32)
    return tf.reshape(tf.concat([solution, tf.ones_like(solution[:, :1])], axis=1), [-1, 3, 3])


def _warp(images: tf.Tensor, inverse: tf.Tensor, interpolation: str) -> tf.Tensor:
    """Resamples a batch once with per-image output→input matrices (zero fill)."""
    flat = tf.reshape(inverse / inverse[:, 2:3, 2:3], [-1, 9])[:, :8]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=flat,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation=interpolation,
        fill_mode="CONSTANT",
    )


def _gaussian_kernels(sigma: tf.Tensor, radius: int) -> tf.Tensor:
    """(B, 2*radius+1) normalised 1-D Gaussian kernels, one per image."""
    offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernels = tf.exp(-0.5 * tf.square(offsets[None, :] / sigma[:, None]))
    return kernels / tf.reduce_sum(kernels, axis=1, keepdims=True)


def _blur(images: tf.Tensor, kernels: tf.Tensor) -> tf.Tensor:
    """Separable blur of (B,H,W,C) with a different 1-D kernel per image, in two depthwise convs.

    The batch is folded into channels, (1, H, W, B*C), so one depthwise convolution applies
    each image's own kernel. Borders replicate the edge pixels.
    """
    batch, height, width, channels = tf.unstack(tf.shape(images))
    radius = (kernels.shape[1] - 1) // 2
    stacked = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, height, width, batch * channels])
    stacked = tf.pad(stacked, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    per_channel = tf.repeat(kernels, channels, axis=0)  # (B*C, K)
    vertical = tf.transpose(per_channel)[:, None, :, None]  # (K, 1, B*C, 1)
    horizontal = tf.transpose(per_channel)[None, :, :, None]  # (1, K, B*C, 1)
    stacked = tf.nn.depthwise_conv2d(stacked, vertical, strides=[1, 1, 1, 1], padding="VALID")
    stacked = tf.nn.depthwise_conv2d(stacked, horizontal, strides=[1, 1, 1, 1], padding="VALID")
    return tf.transpose(tf.reshape(stacked, [height, width, batch, channels]), [2, 0, 1, 3])


def _sample_dense(images: tf.Tensor, source_x: tf.Tensor, source_y: tf.Tensor, bilinear: bool) -> tf.Tensor:
    """Samples (B,H,W,C) at per-pixel source coordinates (B,H,W); outside the image is 0."""
    batch, height, width, channels = tf.unstack(tf.shape(images))
    flat = tf.concat([tf.reshape(images, [-1, channels]), tf.zeros([1, channels], images.dtype)], axis=0)
    outside = batch * height * width
    base = tf.range(batch)[:, None, None] * height * width

    def gather(y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        return tf.gather(flat, tf.where(inside, base + y * width + x, outside))

    if not bilinear:
        return gather(tf.cast(tf.round(source_y), tf.int32), tf.cast(tf.round(source_x), tf.int32))
    x0, y0 = tf.floor(source_x), tf.floor(source_y)
    wx, wy = (source_x - x0)[..., None], (source_y - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    top = gather(y0, x0) * (1 - wx) + gather(y0, x0 + 1) * wx
    bottom = gather(y0 + 1, x0) * (1 - wx) + gather(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


def _apply_to_drawn(tensors: list[tf.Tensor], applied: tf.Tensor, change) -> list[tf.Tensor]:
    """Replaces the images of `tensors` where `applied` by `change(*subsets)`; the rest are kept.

    The drawn images are gathered, changed and scattered back, so the work scales with the
    number drawn. When none is drawn no op runs at all: an empty subset would reach kernels
    that reject empty tensors (oneDNN's depthwise convolution refuses a zero-channel filter).
    """
    chosen = tf.where(applied)  # (N, 1) indices

    def change_drawn() -> list[tf.Tensor]:
        subsets = [tf.gather_nd(tensor, chosen) for tensor in tensors]
        changed = change(*subsets)
        return [tf.tensor_scatter_nd_update(tensor, chosen, tf.ensure_shape(new, subset.shape))
                for tensor, subset, new in zip(tensors, subsets, changed)]

    return tf.cond(tf.reduce_any(applied), change_drawn, lambda: list(tensors))


def _elastic(images: tf.Tensor, labels: tf.Tensor, transform: Transform, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Elastic deformation as albumentations: N(0,1) fields / max|.|, Gaussian blur (sigma), x alpha.

    Only the images it is applied to are deformed.
    """
    seeds = tf.random.experimental.stateless_split(seed, 2)
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    sigma = float(transform.params["sigma"])

    def deform(subset_images: tf.Tensor, subset_labels: tf.Tensor) -> list[tf.Tensor]:
        count = tf.shape(subset_images)[0]
        noise = tf.random.stateless_normal(tf.stack([count, height, width, 2]), seed=seeds[1])
        noise = noise / tf.reduce_max(tf.abs(noise), axis=[1, 2, 3], keepdims=True)
        kernels = _gaussian_kernels(tf.fill([count], sigma), radius=max(1, int(math.ceil(3 * sigma))))
        displacement = _blur(noise, kernels) * float(transform.params["alpha"])
        grid_y, grid_x = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
        source_x, source_y = grid_x + displacement[..., 0], grid_y + displacement[..., 1]
        return [_sample_dense(subset_images, source_x, source_y, True), _sample_dense(subset_labels, source_x, source_y, False)]

    images, labels = _apply_to_drawn([images, labels], _applied(seeds[0], tf.shape(images)[0], transform.p), deform)
    return images, labels


def _clahe_numpy(images: np.ndarray, clip_limits: np.ndarray, tile_grid: int) -> np.ndarray:
    """OpenCV CLAHE on float [0,1] images (grey, or the L channel of Lab for RGB), per image."""
    out = images.copy()
    for index in range(len(images)):
        clahe = cv2.createCLAHE(clipLimit=float(clip_limits[index]), tileGridSize=(tile_grid, tile_grid))
        image = np.clip(images[index] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if image.shape[-1] == 1:
            equalised = clahe.apply(image[..., 0])[..., None]
        else:
            lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
            lab[..., 0] = clahe.apply(lab[..., 0])
            equalised = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
        out[index] = equalised.astype(np.float32) / 255.0
    return out


def _brightness_contrast(images: tf.Tensor, transform: Transform, seed: tf.Tensor) -> tf.Tensor:
    """albumentations' RandomBrightnessContrast: x * (1 + c) + b, clipped; identity where not applied.

    Not-applied images get c = b = 0, so the whole batch takes three elementwise passes.
    """
    seeds = tf.random.experimental.stateless_split(seed, 3)
    params = transform.params
    batch = tf.shape(images)[0]
    applied = tf.cast(_applied(seeds[0], batch, transform.p), tf.float32)[:, None, None, None]
    contrast = _uniform(seeds[1], [batch, 1, 1, 1], -params["contrast"], params["contrast"]) * applied
    brightness = _uniform(seeds[2], [batch, 1, 1, 1], -params["brightness"], params["brightness"]) * applied
    return tf.clip_by_value(images * (1.0 + contrast) + brightness, 0.0, 1.0)


def _pixel_transform(images: tf.Tensor, transform: Transform, seed: tf.Tensor) -> tf.Tensor:
    """Applies one pixel-level transform to a float [0, 1] batch, per-image parameters.

    Only the images it is applied to are computed.
    """
    if transform.name == "brightness_contrast":
        return _brightness_contrast(images, transform, seed)
    seeds = tf.random.experimental.stateless_split(seed, 4)
    params = transform.params

    def change(subset: tf.Tensor) -> list[tf.Tensor]:
        count = tf.shape(subset)[0]
        per_image = [count, 1, 1, 1]
        if transform.name == "gamma":
            gamma = _uniform(seeds[1], per_image, params["gamma"][0] / 100.0, params["gamma"][1] / 100.0)
            changed = tf.exp(gamma * tf.math.log(subset))  # x ** gamma; vectorised, log(0) = -inf gives 0
        elif transform.name == "gaussian_noise":
            std = _uniform(seeds[1], per_image, *params["std"])
            changed = subset + tf.random.stateless_normal(tf.shape(subset), seed=seeds[2]) * std
        elif transform.name == "gaussian_blur":
            low, high = params["sigma"]
            sigma = _uniform(seeds[1], [count], low, high)
            changed = _blur(subset, _gaussian_kernels(sigma, radius=max(1, int(math.ceil(3 * high)))))
        elif transform.name == "coarse_dropout":
            changed = subset * _dropout_keep(tf.shape(subset), params, seeds[1])
        elif transform.name == "clahe":
            clip_limits = _uniform(seeds[1], [count], *params["clip_limit"])
            changed = tf.numpy_function(
                lambda x, c: _clahe_numpy(x, c, int(params["tile_grid"])), [subset, clip_limits], tf.float32, stateful=False
            )
        else:
            raise ValueError(f"{transform.name} is not a pixel transform")
        return [tf.clip_by_value(changed, 0.0, 1.0)]

    (images,) = _apply_to_drawn([images], _applied(seeds[0], tf.shape(images)[0], transform.p), change)
    return images


def _dropout_keep(shape: tf.Tensor, params: dict[str, Any], seed: tf.Tensor) -> tf.Tensor:
    """(B,H,W,1) 0/1 map with between `holes` rectangles of `size` (fraction of H, W) set to 0."""
    batch, height, width = shape[0], shape[1], shape[2]
    most = int(params["holes"][1])
    seeds = tf.random.experimental.stateless_split(seed, 6)
    count = tf.random.stateless_uniform([batch, 1], seed=seeds[0], minval=int(params["holes"][0]), maxval=most + 1, dtype=tf.int32)
    used = tf.range(most)[None, :] < count  # (B, most)
    hole_h = tf.cast(_uniform(seeds[1], [batch, most], *params["size"]) * tf.cast(height, tf.float32), tf.int32)
    hole_w = tf.cast(_uniform(seeds[2], [batch, most], *params["size"]) * tf.cast(width, tf.float32), tf.int32)
    top = tf.cast(_uniform(seeds[3], [batch, most], 0.0, 1.0) * tf.cast(height - hole_h + 1, tf.float32), tf.int32)
    left = tf.cast(_uniform(seeds[4], [batch, most], 0.0, 1.0) * tf.cast(width - hole_w + 1, tf.float32), tf.int32)
    rows = tf.range(height)[None, None, :]
    cols = tf.range(width)[None, None, :]
    in_rows = (rows >= top[..., None]) & (rows < (top + hole_h)[..., None]) & used[..., None]  # (B, most, H)
    in_cols = (cols >= left[..., None]) & (cols < (left + hole_w)[..., None])  # (B, most, W)
    dropped = tf.reduce_any(in_rows[..., :, None] & in_cols[..., None, :], axis=1)  # (B, H, W)
    return tf.cast(~dropped, tf.float32)[..., None]


def augment_batch(
    images: tf.Tensor, labels: tf.Tensor, transforms: list[Transform], seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Augments a batch with the TF-native engine.

    Args:
        images: (B, H, W, C) float32 in [0, 1].
        labels: (B, H, W, 1) label map (0/1 binary or 0..K-1), any integer or float dtype.
        transforms: list of `Transform` (from `parse_transforms`).
        seed: (2,) int tensor. The batch's random stream: same seed, same output.

    Returns:
        (images, labels) of the same shapes and dtypes. Labels only take values already
        present in `labels` or 0 (the fill outside the image).
    """
    if not transforms:
        return images, labels
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError("augment_batch needs batches of a static height and width")
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, len(transforms))
    inverse = None
    for index, transform in enumerate(transforms):
        if transform.name in MATRIX_TRANSFORMS:
            step = _inverse_matrix(transform, seeds[index], batch, height, width)
            inverse = step if inverse is None else inverse @ step  # applied in list order
    if inverse is not None:
        images = _warp(images, inverse, "BILINEAR")
        labels = _warp(labels, inverse, "NEAREST")
    for index, transform in enumerate(transforms):
        if transform.name == "elastic":
            images, labels = _elastic(images, labels, transform, seeds[index])
    for index, transform in enumerate(transforms):
        if transform.name not in MATRIX_TRANSFORMS and transform.name != "elastic":  # transforms added later too
            images = _pixel_transform(images, transform, seeds[index])
    # the warps lose the static size; models whose layers read it (SegNet's unpooling) and
    # XLA need it back
    return tf.ensure_shape(images, (None, height, width, images.shape[-1])), tf.ensure_shape(
        labels, (None, height, width, labels.shape[-1]))
