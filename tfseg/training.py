"""Training a configured model into a run directory, and resuming a stopped run."""

from __future__ import annotations

import copy
import shutil
import signal
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tfseg import losses, metrics, models
from tfseg.callbacks import GracefulStop, make_callbacks
from tfseg.config import RESUMABLE_KEYS, Config, TrainConfig
from tfseg.data import check_settled, classes_of, load_table, make_dataset, make_training_data, settle_data, split_rows
from tfseg.distribution import (
    apply_layer_precision, dtype_policy, is_chief, make_strategy, resolve_jit_compile, resolve_precision, worker_name,
)
from tfseg.errors import TfsegError, TrainingStopped
from tfseg.export import MODEL_CARD, export_run
from tfseg.files import remove_leftovers
from tfseg.optim import make_optimizer, steps_per_epoch
from tfseg.plots import plot_history
from tfseg.run import RunDir, create_run_dir, read_config
from tfseg.text import format_duration
from tfseg.run_state import RunLock, best_epoch, completed_epochs, read_history, restore_state, trim_history
from tfseg.settings_table import settings_table


def build_model(config: Config, steps_per_epoch: int = 1) -> keras.Model:
    """Builds the configured model in its precision and compiles it (`compile_model`); call
    it inside the strategy scope and `dtype_policy` of the precision. The data settings
    that shape the model (channels, classes) must be decided (`tfseg.data.settle_data`)."""
    data = config.data
    check_settled(data, ("data.channels", "data.classes"))
    model = models.build(config.model.name, (*data.image_size, data.channels), data.classes, **config.model.options)
    apply_layer_precision(model, resolve_precision(config.train.precision))
    return compile_model(model, config, steps_per_epoch)


def compile_model(model: keras.Model, config: Config, steps_per_epoch: int = 1) -> keras.Model:
    """Compiles `model` for training as configured and returns it.

    The optimizer (see `tfseg.optim.make_optimizer`) is built with all the model's
    variables, so an encoder frozen for the first epochs can be unfrozen later, and it
    gives the pretrained encoder's variables `lr * encoder_lr_multiplier`. The train step
    is compiled with XLA as `train.jit_compile` resolves for this model on this device
    (`tfseg.distribution.resolve_jit_compile`).

    A deep-supervised model (one output per head) gets the loss on every head with
    weights 1/heads, so the loss is the mean of the heads' losses, and the metrics on
    the last head only; its targets are the mask once per head (`tfseg.data.targets_per_head`).

    Args:
        model: keras.Model. Built for `config.data`'s shape and classes.
        config: Config. Loss and optimizer settings.
        steps_per_epoch: int. Optimizer steps per epoch, for the schedules. Defaults to 1.

    Raises:
        TfsegError: an encoder option is set for a model without a pretrained encoder.
    """
    data, settings = config.data, config.train
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
    jit_compile = resolve_jit_compile(settings.jit_compile)
    model.compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights, metrics=scores, jit_compile=jit_compile)
    model.optimizer.build(model.trainable_variables)
    return model


def validation_sample(rows: pd.DataFrame, config: Config) -> tuple[np.ndarray, np.ndarray] | None:
    """The first `tensorboard_images` validation images and masks, or None."""
    count = min(config.train.tensorboard_images, len(rows))
    if count == 0:
        return None
    images, masks = next(iter(make_dataset(rows.head(count), config.data, count, training=False)))
    return images.numpy(), masks.numpy()


def check_training_options(config: Config) -> None:
    """Checks what only training needs (the model's name, multi-worker's run_dir, the loss
    spec) before the dataset is read and anything is written."""
    models.entry(config.model.name, config.model.options.get("encoder"))
    if config.train.strategy == "multiworker" and not config.train.run_dir:
        raise TfsegError("--strategy multiworker needs --run-dir (the same folder on every worker)")
    losses.get(config.train.loss, classes_of(config.data))


def seed_everything(settings: TrainConfig) -> None:
    """Seeds Python, NumPy and TensorFlow; turns on op determinism when asked (for the rest of the process)."""
    keras.utils.set_random_seed(settings.seed)
    if settings.deterministic:
        tf.config.experimental.enable_op_determinism()


def open_run_dir(config: Config, strategy: tf.distribute.Strategy, resume: bool) -> tuple[RunDir, RunDir, RunLock]:
    """The run directory (created for a new run by the chief), the folder this process writes
    into (the run directory itself for the chief, `workers/<task>-<id>` for other workers),
    and the lock this process now holds on that folder.

    Raises:
        TfsegError: another process is training in that folder.
    """
    chief = is_chief(strategy)
    run = create_run_dir(config) if chief and not resume else RunDir(config.train.run_dir)
    output = run if chief else run.worker(worker_name(strategy))
    output.path.mkdir(parents=True, exist_ok=True)
    config.train.run_dir = str(run.path)
    lock = RunLock(output.path).acquire()
    for folder in (output.path, output.backup):  # what killed writers left, now that no one else writes here
        if folder.is_dir():
            remove_leftovers(folder)
    return run, output, lock


def restore_run(model: keras.Model, output: RunDir) -> tuple[int, pd.DataFrame | None]:
    """Loads the newest intact saved state into `model`, says which and why, then reconciles
    `history.csv` with it (only now, so a failed load changes nothing on disk).

    Returns:
        (epochs completed by the loaded state, the history rows of those epochs).
    """
    done, notes = restore_state(model, output.path)
    for note in notes:
        print(f"tfseg: {note}")
    return done, trim_history(output.history, done)


def finish_run(run: RunDir, config: Config) -> None:
    """Exports the best epoch (`tfseg.export.export_run`) and plots the curves of a trained run."""
    export_run(run, config)
    plot_history(read_history(run.history), run.curves)


def training_summary(run_dir: str | Path, seconds: float | None = None) -> str:
    """The closing lines of `tfseg train`: the best epoch and its validation scores, the
    time taken, what the run holds and the commands to run next.

    Args:
        run_dir: str or Path. A run directory written by `train`.
        seconds: float. How long training took; None leaves the time out. Defaults to None.

    Returns:
        Lines of text, the first `tfseg: run written to RUN_DIR`.
    """
    run = RunDir(run_dir)
    monitor = read_config(run.path).train.monitor
    history = read_history(run.history)
    epoch, _ = best_epoch(history, monitor)
    lines = [f"tfseg: run written to {run.path}"]
    if epoch is not None:
        row = history[history["epoch"] == epoch].iloc[-1]
        names = [monitor] + [name for name in ("val_iou", "val_dice") if name != monitor and name in history]
        scores = ", ".join(f"{name} {row[name]:.4f}" for name in names if pd.notna(row[name]))
        lines.append(f"  best epoch {epoch} of {len(history)} (by {monitor}): {scores}")
    if seconds is not None:
        lines.append(f"  time: {format_duration(seconds)}")
    written = {run.best: "best.keras (the best epoch)", run.export: "export/ (SavedModel, model card)",
               run.curves: "curves.png", run.history: "history.csv", run.tensorboard: "tensorboard/"}
    lines.append("  written: " + ", ".join(text for path, text in written.items() if path.exists()))
    lines.append("  next:")
    lines.append(f"    tfseg evaluate {run.path}")
    lines.append(f"    tfseg predict {run.path} IMAGES  # masks into {run.predictions}")
    if run.tensorboard.exists():
        lines.append(f"    tensorboard --logdir {run.tensorboard}")
    return "\n".join(lines)


def train(config: Config, resume: bool = False, callbacks: list[keras.callbacks.Callback] | None = None) -> Path:
    """Trains the configured model and writes the run directory.

    The run directory receives `config.yaml` (the resolved config), `history.csv` (one
    row per epoch), `best.keras` (best `train.monitor`), `last.keras`, `backup/` (state
    for resuming), `export/` (SavedModel of the best model, `model_card.json`, optionally
    `model.tflite`), `tensorboard/` (scalars and validation images) and `curves.png`
    (see `tfseg.run`).

    The strategy scope holds the model, optimizer and metrics; `train.batch_size` is the
    global batch, split across replicas. Under `multiworker`, non-chief workers write
    into `<run_dir>/workers/<task>-<id>/` and skip the export.

    Before the first epoch it prints the settings that matter and where each came from
    (`tfseg.settings_table`); the settings left to the data (`data.channels`,
    `data.classes`, `data.mask_threshold` null) are decided from it first
    (`tfseg.data.settle_data`), and `config.yaml` holds the values decided.

    Args:
        config: Config. The whole configuration.
        resume: bool. Continue the run in `train.run_dir` from its last completed epoch
            (weights, optimizer state, schedule position); `train.epochs` is the total.
            Defaults to False.
        callbacks: list of keras.callbacks.Callback. Extra callbacks, run after the
            run's own. Defaults to None.

    Returns:
        The run directory. `config` is left as it was: the run's own copy records its folder.
    """
    config = copy.deepcopy(config)
    settings = config.train
    strategy = make_strategy(settings.strategy)  # first: multi-worker set-up precedes other TF work
    seed_everything(settings)
    check_training_options(config)
    table = load_table(config.data, settings.seed, config.sources)
    config.data, decided = settle_data(config.data, table)
    config.sources.update(decided)
    train_rows, val_rows = split_rows(table, "train"), split_rows(table, "val")
    precision = resolve_precision(settings.precision)
    steps = steps_per_epoch(settings, len(train_rows))
    with dtype_policy(precision), strategy.scope():  # builds (and checks) the model before anything is written
        model = build_model(config, steps)
    chief = is_chief(strategy)
    run, output, lock = open_run_dir(config, strategy, resume)
    try:
        done, history = restore_run(model, output) if resume else (0, None)
        if chief:
            config.save(run.config)
        _, best_so_far = best_epoch(history, settings.monitor)
        train_data, val_data = make_training_data(config, train_rows, val_rows, heads=len(model.outputs))
        stop = GracefulStop()
        run_callbacks = make_callbacks(
            settings, output, validation_sample(val_rows, config) if chief else None, history, best_so_far, stop
        )
        epochs = f"{settings.epochs} epoch{'s' * (settings.epochs != 1)}"
        start = f"resuming after epoch {done} of {settings.epochs}" if resume else epochs
        start += f", {steps} steps each"
        print(settings_table(config, table))
        print(
            f"tfseg: training {config.model.name} on {len(train_rows)} images, validating on {len(val_rows)}; "
            f"{start}; {strategy.num_replicas_in_sync} replica(s), {precision}; run directory {run.path}"
        )
        with dtype_policy(precision), stop:
            # the tf.data pipeline shuffles; Keras ignores `shuffle` for a dataset but warns when it is True (its default)
            model.fit(train_data, validation_data=val_data, epochs=settings.epochs, initial_epoch=done,
                      steps_per_epoch=settings.steps_per_epoch or None,
                      callbacks=run_callbacks + list(callbacks or []), verbose="auto", shuffle=False)
    except BaseException:
        if chief and not resume and completed_epochs(run.path) == 0:  # nothing to resume: leave no half-run
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    finally:
        lock.release()
    if stop.signal_name is not None:
        finished = completed_epochs(output.path)
        raise TrainingStopped(
            f"stopped by {stop.signal_name} after epoch {finished} of {settings.epochs}, its state saved; continue with: "
            f"python train.py --resume {run.path}", 128 + signal.Signals[stop.signal_name].value)
    if chief:
        finish_run(run, config)
    return run.path


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
        The run directory. A run that has completed `train.epochs` is left as it is.
    """
    changed = sorted(key for key, value in (overrides or {}).items() if value is not None and key not in RESUMABLE_KEYS)
    if changed:
        raise TfsegError(f"--resume: {', '.join(changed)} cannot change on resume; only {', '.join(RESUMABLE_KEYS)} can")
    config = read_config(run_dir, overrides)
    config.train.run_dir = str(run_dir)
    done = completed_epochs(run_dir)
    if done >= config.train.epochs:
        run = RunDir(run_dir)
        if not (run.export / MODEL_CARD).is_file():  # killed while exporting: finish that
            with RunLock(run.path):
                remove_leftovers(run.path)
                finish_run(run, config)
        print(f"tfseg: {run_dir} is complete ({done} of {config.train.epochs} epochs); nothing to do. "
              f"Pass --epochs N (N > {done}) to train it further.")
        return Path(run_dir)
    return train(config, resume=True, callbacks=callbacks)
