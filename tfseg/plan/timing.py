"""Timing real training steps of a config on this machine, for the epochs a budget affords."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from tfseg.config import Config
from tfseg.data import load_table, make_dataset, settle_data, split_rows, targets_per_head
from tfseg.distribution import dtype_policy, resolve_precision
from tfseg.plan.machine import StepTiming
from tfseg.training import build_model, seed_everything


def time_training_steps(config: Config, steps: int = 12, validation_steps: int = 3) -> StepTiming:
    """Builds the config's model and times training steps on real batches of its dataset.

    The first training step (tracing, compiling) is timed apart, as start-up; then `steps`
    steps on batches from the training pipeline as it trains (augmented, cropped or
    resized), then `validation_steps` validation steps after a first, and one save of the
    model. Nothing is written but a temporary file.

    Args:
        config: Config. Data, model, batch size, loss, optimizer and precision as training uses them.
        steps: int. Training steps timed after the first. Defaults to 12.
        validation_steps: int. Validation steps timed after the first. Defaults to 3.

    Returns:
        A `StepTiming`; its validation time is that of one pass over the validation split.
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
        train_data = make_dataset(train_rows, config.data, settings.batch_size, training=True, seed=settings.seed,
                                  repeat=True)
        val_data = make_dataset(val_rows, config.data, settings.batch_size, training=False)
        validation_batches = int(val_data.cardinality())
        train_batches = iter(targets_per_head(train_data, heads))
        val_batches = iter(targets_per_head(val_data.repeat(), heads))
        model.train_on_batch(*next(train_batches))
        start_seconds = time.perf_counter() - started
        timed = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(*next(train_batches))
        train_seconds = (time.perf_counter() - timed) / steps
        model.test_on_batch(*next(val_batches))
        timed = time.perf_counter()
        for _ in range(validation_steps):
            model.test_on_batch(*next(val_batches))
        validation_seconds = (time.perf_counter() - timed) / validation_steps * validation_batches
    with tempfile.TemporaryDirectory() as folder:
        timed = time.perf_counter()
        model.save(Path(folder) / "timing.keras")
        checkpoint_seconds = time.perf_counter() - timed
    height, width = config.data.image_size
    return StepTiming(train_seconds, validation_seconds, checkpoint_seconds, start_seconds, steps,
                      f"batch {settings.batch_size} of {height}x{width}x{config.data.channels}, {precision}")
