"""A random batch, shared by the tests of tfseg.models (small model options are the
registry's: `models.entry(name).architecture.small`)."""

import numpy as np


def _batch(shape, classes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((2, *shape), dtype="float32")
    labels = (x[..., :1] > 0.5).astype("int32")[..., 0] + (x[..., -1] > 0.8)
    y = labels[..., None].astype("float32") if classes == 1 else np.eye(classes, dtype="float32")[labels]
    return x, y
