"""Training a configured model into a run directory, and resuming a stopped run."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tfseg import losses, metrics, models
from tfseg.callbacks import completed_epochs, make_callbacks, monitor_mode, trim_history
from tfseg.config import Config, load_config
from tfseg.data import load_table, make_dataset, split_rows
from tfseg.distribution import dtype_policy, is_chief, make_strategy, resolve_precision, worker_name
from tfseg.errors import TfsegError
from tfseg.export import export_model, model_card
from tfseg.optim import make_optimizer, steps_per_epoch
from tfseg.plots import plot_history

RESUMABLE_KEYS = ("train.epochs", "train.export", "train.strategy", "train.jit_compile", "train.deterministic")


def make_run_dir(config: Config) -> Path:
    """Creates the run directory (`train.run_dir` or `runs/<model>-<timestamp>`).

    Refuses a directory that already holds a run.
    """
    run_dir = Path(config.train.run_dir or f"runs/{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if (run_dir / "config.yaml").exists():
        raise TfsegError(f"--run-dir {run_dir}: already holds a run (config.yaml); choose a new folder or --resume it")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def build_model(config: Config, steps_per_epoch: int = 1) -> keras.Model:
    """Builds and compiles the configured model; call it inside the strategy scope.

    The optimizer (see `tfseg.optim.make_optimizer`) is built with all the model's
    variables, so an encoder frozen for the first epochs can be unfrozen later, and it
    gives the pretrained encoder's variables `lr * encoder_lr_multiplier`.

    A deep-supervised model (one output per head) gets the loss on every head with
    weights 1/heads, so the loss is the mean of the heads' losses, and the metrics on
    the last head only; its targets are the mask once per head (`targets_per_head`).

    Args:
        config: Config. Model, data shape, loss and optimizer settings.
        steps_per_epoch: int. Optimizer steps per epoch, for the schedules. Defaults to 1.

    Raises:
        TfsegError: an encoder option is set for a model without a pretrained encoder.
    """
    data, settings = config.data, config.train
    model = models.build(config.model.name, (*data.image_size, data.channels), data.classes, **config.model.options)
    optimizer = make_optimizer(settings, steps_per_epoch)
    if settings.encoder_lr_multiplier != 1 or settings.freeze_encoder_epochs:
        encoder = models.get_encoder(model)
        if encoder is None:
            raise TfsegError(
                f"train.encoder_lr_multiplier / train.freeze_encoder_epochs: model {config.model.name!r} has no "
                "pretrained encoder (a nested layer named 'encoder')"
            )
        optimizer.scale_learning_rate(encoder.trainable_variables)
    loss, scores, loss_weights = losses.get(settings.loss, data.classes), metrics.training_metrics(data.classes), None
    heads = len(model.outputs)
    if heads > 1:
        loss, scores, loss_weights = [loss] * heads, [[]] * (heads - 1) + [scores], [1 / heads] * heads
    model.compile(
        optimizer=optimizer, loss=loss, loss_weights=loss_weights, metrics=scores, jit_compile=settings.jit_compile
    )
    model.optimizer.build(model.trainable_variables)
    return model


def targets_per_head(dataset: tf.data.Dataset, heads: int) -> tf.data.Dataset:
    """(image, mask) batches as (image, (mask,) * heads) for a model with `heads`
    outputs; unchanged for one."""
    if heads == 1:
        return dataset
    return dataset.map(lambda image, mask: (image, (mask,) * heads), num_parallel_calls=tf.data.AUTOTUNE)


def _best_epoch(history: pd.DataFrame | None, monitor: str) -> tuple[int | None, float | None]:
    """(epoch, value) of the best `monitor` in a history table, or (None, None)."""
    if history is None or monitor not in history or history[monitor].isna().all():
        return None, None
    index = history[monitor].idxmin() if monitor_mode(monitor) == "min" else history[monitor].idxmax()
    return int(history.loc[index, "epoch"]), float(history.loc[index, monitor])


def _validation_sample(rows: pd.DataFrame, config: Config) -> tuple[np.ndarray, np.ndarray] | None:
    """The first `tensorboard_images` validation images and masks, or None."""
    count = min(config.train.tensorboard_images, len(rows))
    if count == 0:
        return None
    images, masks = next(iter(make_dataset(rows.head(count), config.data, count, training=False)))
    return images.numpy(), masks.numpy()


def _shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Multi-worker input: each worker takes every N-th batch (the file list is not sharded)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def train(config: Config, resume: bool = False, callbacks: list[keras.callbacks.Callback] | None = None) -> Path:
    """Trains the configured model and writes the run directory.

    The run directory receives `config.yaml` (the resolved config), `history.csv` (one
    row per epoch), `best.keras` (best `train.monitor`), `last.keras`, `backup/` (state
    for resuming), `export/` (SavedModel of the best model, `model_card.json`, optionally
    `model.tflite`), `tensorboard/` (scalars and validation images) and `curves.png`.

    The strategy scope holds the model, optimizer and metrics; `train.batch_size` is the
    global batch, split across replicas. Under `multiworker`, non-chief workers write
    into `<run_dir>/workers/<task>-<id>/` and skip the export.

    Args:
        config: Config. The whole configuration.
        resume: bool. Continue the run in `train.run_dir` from its last completed epoch
            (weights, optimizer state, schedule position); `train.epochs` is the total.
            Defaults to False.
        callbacks: list of keras.callbacks.Callback. Extra callbacks, run after the
            run's own. Defaults to None.

    Returns:
        The run directory.
    """
    settings = config.train
    strategy = make_strategy(settings.strategy)  # first: multi-worker set-up precedes other TF work
    keras.utils.set_random_seed(settings.seed)
    if settings.deterministic:
        tf.config.experimental.enable_op_determinism()
    # Validate model name, loss and data before creating anything on disk.
    losses.get(settings.loss, config.data.classes)
    if config.model.name not in models.names():
        raise TfsegError(f"unknown model {config.model.name!r}; valid: {', '.join(models.names())}")
    if settings.strategy == "multiworker" and not settings.run_dir:
        raise TfsegError("--strategy multiworker needs --run-dir (the same folder on every worker)")
    table = load_table(config.data, settings.seed)
    train_rows, val_rows = split_rows(table, "train"), split_rows(table, "val")
    steps = steps_per_epoch(len(train_rows), settings.batch_size)
    precision = resolve_precision(settings.precision)
    with dtype_policy(precision), strategy.scope():
        model = build_model(config, steps)

    chief = is_chief(strategy)
    if resume:
        run_dir = Path(settings.run_dir)
    elif chief:
        run_dir = make_run_dir(config)
    else:
        run_dir = Path(settings.run_dir)
    output_dir = run_dir if chief else run_dir / "workers" / worker_name(strategy)
    output_dir.mkdir(parents=True, exist_ok=True)
    config.train.run_dir = str(run_dir)
    if chief:
        config.save(run_dir / "config.yaml")
    done = completed_epochs(output_dir)
    history = trim_history(output_dir / "history.csv", done)
    _, best_so_far = _best_epoch(history, settings.monitor)

    heads = len(model.outputs)
    train_data = make_dataset(train_rows, config.data, settings.batch_size, training=True, seed=settings.seed)
    val_data = make_dataset(val_rows, config.data, settings.batch_size, training=False)
    train_data, val_data = (_shard_by_data(targets_per_head(data, heads)) for data in (train_data, val_data))
    run_callbacks = make_callbacks(settings, output_dir, _validation_sample(val_rows, config) if chief else None, best_so_far)
    start = f"resuming at epoch {done + 1} of {settings.epochs}" if resume else f"{settings.epochs} epochs"
    print(
        f"tfseg: training {config.model.name} on {len(train_rows)} images, validating on {len(val_rows)}; "
        f"{start}; {strategy.num_replicas_in_sync} replica(s), {precision}; run directory {run_dir}"
    )
    try:
        with dtype_policy(precision):
            model.fit(train_data, validation_data=val_data, epochs=settings.epochs, callbacks=run_callbacks + list(callbacks or []), verbose="auto")
    except BaseException:
        if chief and not resume and completed_epochs(run_dir) == 0:  # nothing to resume: leave no half-run
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if not chief:
        return run_dir
    if not (run_dir / "best.keras").exists():
        raise TfsegError(f"{run_dir}: no epoch produced a finite {settings.monitor}, so there is no best.keras to export")
    best_epoch, score = _best_epoch(pd.read_csv(run_dir / "history.csv"), settings.monitor)
    best = keras.saving.load_model(run_dir / "best.keras")
    export_model(models.final_head(best), run_dir / "export", model_card(config, settings.monitor, score, best_epoch), settings.export)
    plot_history(run_dir / "history.csv", run_dir / "curves.png")
    return run_dir


def resume_run(
    run_dir: str | Path, overrides: dict[str, Any] | None = None, callbacks: list[keras.callbacks.Callback] | None = None
) -> Path:
    """Continues the run in `run_dir` from its last completed epoch.

    Args:
        run_dir: str or Path. A run directory written by `train`.
        overrides: dict. Dotted-key changes; only `RESUMABLE_KEYS` (e.g. `train.epochs`,
            the total number of epochs) may be set, None values are ignored.
        callbacks: list of keras.callbacks.Callback. Extra callbacks. Defaults to None.

    Returns:
        The run directory.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise TfsegError(f"--resume {run_dir}: no config.yaml there; expected a run directory written by train.py")
    changed = sorted(key for key, value in (overrides or {}).items() if value is not None and key not in RESUMABLE_KEYS)
    if changed:
        raise TfsegError(f"--resume: {', '.join(changed)} cannot change on resume; only {', '.join(RESUMABLE_KEYS)} can")
    config = load_config(run_dir / "config.yaml", overrides)
    config.train.run_dir = str(run_dir)
    return train(config, resume=True, callbacks=callbacks)
