"""Optimizers and learning-rate schedules from a `TrainConfig`.

Every optimizer is a Keras optimizer with one addition: variables handed to
`scale_learning_rate(variables)` (the pretrained encoder's) are updated with the
learning rate times `encoder_lr_multiplier`. Adam-style optimizers are invariant to the
scale of the gradient, so the multiplier has to act on the learning rate inside the
update, not on the gradient.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from tfseg.config import TrainConfig


class EncoderLearningRateMixin:
    """Multiplies the learning rate of chosen variables inside `update_step`.

    Args:
        encoder_lr_multiplier: float. Factor on the learning rate of the variables given
            to `scale_learning_rate`. Defaults to 1.0.
        **kwargs: the Keras optimizer's arguments.
    """

    def __init__(self, *args: Any, encoder_lr_multiplier: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.encoder_lr_multiplier = encoder_lr_multiplier
        self._scaled_variable_keys: set[Any] = set()

    def scale_learning_rate(self, variables: list[keras.Variable]) -> None:
        """Marks `variables` to be updated with `learning_rate * encoder_lr_multiplier`."""
        self._scaled_variable_keys = {self._var_key(variable) for variable in variables}

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> Any:
        """The optimizer's update, with the multiplied rate for the marked variables."""
        if self._var_key(variable) in self._scaled_variable_keys:
            learning_rate = learning_rate * self.encoder_lr_multiplier
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict[str, Any]:
        """The optimizer's config plus `encoder_lr_multiplier`."""
        return {**super().get_config(), "encoder_lr_multiplier": self.encoder_lr_multiplier}


@keras.saving.register_keras_serializable(package="tfseg")
class Adam(EncoderLearningRateMixin, keras.optimizers.Adam):
    """`keras.optimizers.Adam` with an encoder learning-rate multiplier."""


@keras.saving.register_keras_serializable(package="tfseg")
class AdamW(EncoderLearningRateMixin, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with an encoder learning-rate multiplier."""


@keras.saving.register_keras_serializable(package="tfseg")
class SGD(EncoderLearningRateMixin, keras.optimizers.SGD):
    """`keras.optimizers.SGD` with an encoder learning-rate multiplier."""


@keras.saving.register_keras_serializable(package="tfseg")
class RMSprop(EncoderLearningRateMixin, keras.optimizers.RMSprop):
    """`keras.optimizers.RMSprop` with an encoder learning-rate multiplier."""


def make_learning_rate(train: TrainConfig, steps_per_epoch: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate of `train.schedule`, stepped per batch.

    `constant` and `plateau` give a float (ReduceLROnPlateau lowers it from a callback);
    `cosine` warms up linearly from 0 to `lr` over `warmup_epochs`, then follows a cosine
    down to `min_lr` at the last epoch; `poly` is nnU-Net's
    `lr * (1 - step / total_steps) ** poly_power`, ending at `min_lr`.

    Args:
        train: TrainConfig. Rate, schedule and its parameters, epochs.
        steps_per_epoch: int. Optimizer steps per epoch.
    """
    total_steps = max(1, train.epochs * steps_per_epoch)
    if train.schedule == "cosine":
        warmup_steps = train.warmup_epochs * steps_per_epoch
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup_steps else train.lr,
            decay_steps=max(1, total_steps - warmup_steps),
            alpha=train.min_lr / train.lr,
            warmup_target=train.lr if warmup_steps else None,
            warmup_steps=warmup_steps,
        )
    if train.schedule == "poly":
        return keras.optimizers.schedules.PolynomialDecay(
            train.lr, decay_steps=total_steps, end_learning_rate=train.min_lr, power=train.poly_power
        )
    return train.lr


def make_optimizer(train: TrainConfig, steps_per_epoch: int) -> EncoderLearningRateMixin:
    """Builds the configured optimizer with its schedule, weight decay and clipping.

    Args:
        train: TrainConfig. `optimizer`, `lr`, `schedule`, `momentum`, `nesterov`,
            `weight_decay`, `clipnorm`, `encoder_lr_multiplier`.
        steps_per_epoch: int. Optimizer steps per epoch (for the schedules).

    Returns:
        An optimizer from this module; call `scale_learning_rate(encoder_variables)` to
        apply the encoder multiplier.
    """
    common: dict[str, Any] = {
        "learning_rate": make_learning_rate(train, steps_per_epoch),
        "weight_decay": train.weight_decay or None,
        "clipnorm": train.clipnorm or None,
        "encoder_lr_multiplier": train.encoder_lr_multiplier,
    }
    if train.optimizer == "adam":
        return Adam(**common)
    if train.optimizer == "adamw":
        return AdamW(**{**common, "weight_decay": train.weight_decay})
    if train.optimizer == "sgd":
        return SGD(momentum=train.momentum, nesterov=train.nesterov, **common)
    return RMSprop(momentum=train.momentum, **common)


def steps_per_epoch(train: TrainConfig, samples: int) -> int:
    """Optimizer steps in one epoch: `train.steps_per_epoch` when set, else those of one pass
    over `samples` training images at global batch `train.batch_size`."""
    return train.steps_per_epoch or max(1, math.ceil(samples / train.batch_size))
