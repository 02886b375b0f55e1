"""Tiny model options and a random batch, shared by the tests of tfseg.models."""

import numpy as np


# Tiny widths so that each build and step takes seconds on a CPU.
PLAIN = {
    "unet": dict(depth=2, base_filters=4),
    "unet_upsample": dict(depth=2, base_filters=4),
    "unet_convpool": dict(depth=2, base_filters=4),
    "unetpp": dict(depth=2, base_filters=4),
    "segnet": dict(base_filters=4),
    "linknet": dict(base_filters=4),
}
DECODER_OPTIONS = {
    "unet": dict(decoder_filters=(8, 8, 4, 4, 4)),
    "unetpp": dict(decoder_filters=(8, 8, 4, 4, 4)),
    "linknet": dict(final_filters=4),
}


def _batch(shape, classes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((2, *shape), dtype="float32")
    labels = (x[..., :1] > 0.5).astype("int32")[..., 0] + (x[..., -1] > 0.8)
    y = labels[..., None].astype("float32") if classes == 1 else np.eye(classes, dtype="float32")[labels]
    return x, y
