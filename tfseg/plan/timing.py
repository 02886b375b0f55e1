"""Timing real training steps and epochs of a config on this machine, for the epochs a budget affords."""

from __future__ import annotations

import dataclasses
import tempfile
import time

import keras

from tfseg.callbacks import GracefulStop, make_callbacks
from tfseg.config import Config
from tfseg.data import load_table, make_training_data, settle_data, split_rows
from tfseg.distribution import dtype_policy, resolve_precision
from tfseg.plan.machine import StepTiming
from tfseg.run import RunDir
from tfseg.training import build_model, seed_everything, validation_sample


class _EpochClock(keras.callbacks.Callback):
    """The wall time of each epoch: its steps, its validation and the callbacks before this one."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._began = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._began = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._began)


def time_training_steps(config: Config, steps: int = 12) -> StepTiming:
    """Builds the config's model and times its training on real batches of its dataset.

    The first training step (building, tracing, compiling) is timed apart, as start-up; then
    `steps` steps on batches from the training pipeline as it trains (augmented, cropped or
    resized). Then two epochs of one step each run as training runs them, validating on the
    whole validation split and calling the run's own end-of-epoch callbacks (history,
    checkpoints, saved state, TensorBoard) into a temporary folder; the second, less its
    step, is what an epoch costs besides its steps. Nothing is left behind.

    Args:
        config: Config. Data, model, batch size, loss, optimizer and precision as training uses them.
        steps: int. Training steps timed after the first. Defaults to 12.

    Returns:
        A `StepTiming`.
    """
    settings = config.train
    seed_everything(settings)
    table = load_table(config.data, settings.seed)
    config = dataclasses.replace(config, data=settle_data(config.data, table)[0])
    train_rows, val_rows = split_rows(table, "train"), split_rows(table, "val")
    precision = resolve_precision(settings.precision)
    started = time.perf_counter()
    with dtype_policy(precision):
        model = build_model(config)
        heads = len(model.outputs)
        # the datasets training fits on, the training split repeating (an epoch of steps) whatever the config says
        repeating = dataclasses.replace(config, train=dataclasses.replace(settings, steps_per_epoch=steps))
        train_data, val_data = make_training_data(repeating, train_rows, val_rows, heads)
        train_batches = iter(train_data)
        model.train_on_batch(*next(train_batches))
        start_seconds = time.perf_counter() - started
        timed = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(*next(train_batches))
        train_seconds = (time.perf_counter() - timed) / steps
        clock = _EpochClock()
        with tempfile.TemporaryDirectory() as folder:
            callbacks = make_callbacks(settings, RunDir(folder), validation_sample(val_rows, config), None, None,
                                       GracefulStop())
            model.fit(train_data, validation_data=val_data, epochs=2, steps_per_epoch=1, callbacks=[*callbacks, clock],
                      verbose=0, shuffle=False)
    height, width = config.data.image_size
    return StepTiming(train_seconds, max(0.0, clock.seconds[-1] - train_seconds), start_seconds, steps,
                      f"batch {settings.batch_size} of {height}x{width}x{config.data.channels}, {precision}")
