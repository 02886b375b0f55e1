"""Model builders behind one registry: `build(name, ...)`, `names()`, `entry(name)`.

Every builder takes `(input_shape, classes, activation, **options)` and returns a plain
functional `keras.Model` whose last layer is float32. Models take images scaled to
[0, 1] and, by default, output probabilities (sigmoid for one class, softmax for K).
Decoders are registered on every encoder as `<decoder>_<encoder>` (e.g. `unet_effb3`,
`fpn_resnet34`); those models hold their backbone as one nested model named "encoder"
(`get_encoder`, `set_encoder_trainable`) and its ImageNet preprocessing as a layer in
front of it. See `tfseg.models.registry` for how a module registers a builder.
"""

from __future__ import annotations

import keras

from tfseg.models.encoders import get_encoder, set_encoder_trainable
from tfseg.models.registry import architectures, build, entries, entry, names

__all__ = ["build", "names", "entry", "entries", "architectures", "final_head", "get_encoder", "set_encoder_trainable"]


def final_head(model: keras.Model) -> keras.Model:
    """The model that predicts: `model` itself when it has one output; for a
    deep-supervised model (one output per head, e.g. `unetpp` with
    `deep_supervision=True`), a model of the same layers and weights with only the last,
    full-depth output."""
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.input, model.outputs[-1], name=model.name)
