"""Training a configured model into a run directory."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import keras

from tfseg import losses, metrics, models
from tfseg.config import Config
from tfseg.data import load_table, make_dataset, split_rows
from tfseg.errors import TfsegError
from tfseg.plots import plot_history


def make_run_dir(config: Config) -> Path:
    """Creates the run directory (`train.run_dir` or `runs/<model>-<timestamp>`).

    Refuses a directory that already holds a run.
    """
    run_dir = Path(config.train.run_dir or f"runs/{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if (run_dir / "config.yaml").exists():
        raise TfsegError(f"--run-dir {run_dir}: already holds a run (config.yaml); choose a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def build_model(config: Config) -> keras.Model:
    """Builds and compiles the configured model (Adam, configured loss, IoU and Dice)."""
    data = config.data
    model = models.build(
        config.model.name, (*data.image_size, data.channels), data.classes, **config.model.options
    )
    model.compile(
        optimizer=keras.optimizers.Adam(config.train.lr),
        loss=losses.get(config.train.loss, data.classes),
        metrics=metrics.training_metrics(data.classes),
    )
    return model


def export_saved_model(model: keras.Model, export_dir: Path) -> None:
    """Exports a SavedModel (`model.export`), replacing `export_dir` only when complete."""
    staging = export_dir.with_name(export_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.export(str(staging), verbose=False)
    shutil.rmtree(export_dir, ignore_errors=True)
    staging.rename(export_dir)


def train(config: Config) -> Path:
    """Trains the configured model and writes the run directory.

    The run directory receives `config.yaml` (the resolved config), `history.csv`,
    `best.keras` (best validation IoU), `export/` (SavedModel of the best model),
    `tensorboard/` and `curves.png`.

    Args:
        config: Config. The whole configuration.

    Returns:
        The run directory.
    """
    keras.utils.set_random_seed(config.train.seed)
    # Validate model name, loss and data before creating anything on disk.
    losses.get(config.train.loss, config.data.classes)
    if config.model.name not in models.names():
        raise TfsegError(f"unknown model {config.model.name!r}; valid: {', '.join(models.names())}")
    table = load_table(config.data, config.train.seed)
    train_rows, val_rows = split_rows(table, "train"), split_rows(table, "val")
    model = build_model(config)

    run_dir = make_run_dir(config)
    config.train.run_dir = str(run_dir)
    config.save(run_dir / "config.yaml")
    batch = config.train.batch_size
    train_data = make_dataset(train_rows, config.data, batch, training=True, seed=config.train.seed)
    val_data = make_dataset(val_rows, config.data, batch, training=False)
    print(f"tfseg: training {config.model.name} on {len(train_rows)} images, validating on {len(val_rows)}; run directory {run_dir}")
    callbacks = [
        keras.callbacks.ModelCheckpoint(run_dir / "best.keras", monitor="val_iou", mode="max", save_best_only=True),
        keras.callbacks.CSVLogger(run_dir / "history.csv"),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")),
    ]
    try:
        model.fit(train_data, validation_data=val_data, epochs=config.train.epochs, callbacks=callbacks, verbose="auto")
    except BaseException:
        if not (run_dir / "best.keras").exists():  # nothing worth keeping: leave no half-run behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    best = keras.saving.load_model(run_dir / "best.keras")
    export_saved_model(best, run_dir / "export")
    plot_history(run_dir / "history.csv", run_dir / "curves.png")
    return run_dir
