"""The callbacks of a training run: checkpoints, logs, schedules, saved states, signals, images.

Everything a later step reads is written atomically (`tfseg.files`), in this order at the
end of an epoch: `history.csv`, `best.keras`, `last.keras`, then the saved state in
`backup/`. A kill between two of them resumes from the state before, and the history rows
of epochs after that state are dropped before training continues, so each epoch appears once.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tfseg import models
from tfseg.config import TrainConfig
from tfseg.data.io import to_display
from tfseg.distribution import float32_while
from tfseg.files import atomic_path, write_atomically
from tfseg.run import RunDir
from tfseg.run_state import monitor_mode, save_state


class FinalHeadLogNames(keras.callbacks.Callback):
    """Gives a multi-output (deep-supervised) model's epoch metrics the names a
    single-output model's have.

    Keras prefixes each metric of a multi-output model with its output's name
    (`val_head4_sigmoid_iou`); the metrics are computed on the last head only, so this
    renames them to `val_iou` etc. in place, before the other callbacks (checkpoint,
    CSV, TensorBoard, early stopping) read the logs. The per-head losses keep their
    names (`head1_sigmoid_loss`, …); `loss` is their weighted mean. A single-output
    model's logs are left as they are. Must come first in the callback list.
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Renames `[val_]<last output>_<metric>` to `[val_]<metric>`, losses excepted."""
        if logs is None or len(self.model.outputs) == 1:
            return
        for stage in ("", "val_"):
            prefix = f"{stage}{self.model.output_names[-1]}_"
            for key in [key for key in logs if key.startswith(prefix) and not key.endswith("loss")]:
                logs[stage + key[len(prefix):]] = logs.pop(key)


class ValidationImages(keras.callbacks.Callback):
    """Writes a few validation images, their true masks and the predicted masks to
    TensorBoard at the end of every epoch (`tf.summary.image`, tag `validation/…`).

    Args:
        log_dir: str or Path. TensorBoard folder; images go to `<log_dir>/images`.
        images: array (N, H, W, C). Validation images as the model takes them (shown stretched
            to [0, 1] when normalised otherwise, `tfseg.data.io.to_display`).
        masks: array (N, H, W, K). Their targets (binary or one-hot).
    """

    def __init__(self, log_dir: str | Path, images: np.ndarray, masks: np.ndarray) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self.images = images
        self.masks = masks
        self._writer: Any = None

    @staticmethod
    def _as_grey(masks: np.ndarray) -> np.ndarray:
        """Binary masks as they are; one-hot label maps as label / (K - 1)."""
        if masks.shape[-1] == 1:
            return masks.astype(np.float32)
        return (np.argmax(masks, axis=-1)[..., None] / (masks.shape[-1] - 1)).astype(np.float32)

    def set_model(self, model: keras.Model) -> None:
        """Keeps the model and its predicting head (`models.final_head`), built once."""
        super().set_model(model)
        self._predictor = models.final_head(model)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Predicts the images with the current weights and writes the three panels."""
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir / "images"))
        probabilities = keras.ops.convert_to_numpy(self._predictor(self.images, training=False))
        predicted = probabilities >= 0.5 if probabilities.shape[-1] == 1 else keras.utils.to_categorical(
            np.argmax(probabilities, axis=-1), probabilities.shape[-1]
        )
        with self._writer.as_default():
            tf.summary.image("validation/image", to_display(self.images), step=epoch, max_outputs=len(self.images))
            tf.summary.image("validation/true_mask", self._as_grey(self.masks), step=epoch, max_outputs=len(self.images))
            tf.summary.image("validation/predicted_mask", self._as_grey(predicted), step=epoch, max_outputs=len(self.images))
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Closes the writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class FreezeEncoder(keras.callbacks.Callback):
    """Keeps the model's pretrained encoder frozen for the first `epochs` epochs.

    At the start of every epoch the encoder is made trainable or not
    (`tfseg.models.set_encoder_trainable`) and, when that changes, the train step is
    traced again so it updates the right variables. Because the decision depends only on
    the epoch number, a resumed run freezes exactly as the original would have. The
    optimizer must already be built with all the model's variables.

    Args:
        epochs: int. Number of leading epochs with a frozen encoder.
    """

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Freezes or unfreezes the encoder for this epoch."""
        trainable = epoch >= self.epochs
        if models.get_encoder(self.model).trainable != trainable:
            models.set_encoder_trainable(self.model, trainable)
            self.model.make_train_function(force=True)


class HistoryLog(keras.callbacks.Callback):
    """Writes `history.csv` (epoch numbered from 1, the logs' keys in sorted order, then the
    epoch's wall-clock seconds) after every epoch,
    rewriting the whole small file atomically so a kill never leaves a torn row.

    Args:
        path: Path. The CSV file.
        rows: DataFrame or None. The rows of the epochs already done (a resumed run).
    """

    def __init__(self, path: Path, rows: pd.DataFrame | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.rows = [] if rows is None else rows.to_dict(orient="records")
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Appends this epoch's row (with `epoch_seconds`, training and validation) and rewrites the file."""
        seconds, number = time.perf_counter() - self.started, epoch + 1  # Keras counts from 0
        self.rows = [row for row in self.rows if row["epoch"] != number]
        self.rows.append({"epoch": number, **{key: float(value) for key, value in sorted((logs or {}).items())},
                          "epoch_seconds": round(seconds, 3)})
        table = pd.DataFrame(self.rows)
        logged = sorted(column for column in table.columns if column not in ("epoch", "epoch_seconds"))
        table = table[["epoch", *logged, "epoch_seconds"]]
        write_atomically(self.path, table.to_csv(index=False))


class SaveModel(keras.callbacks.Callback):
    """Saves the whole model (`.keras`) atomically after every epoch, or only after an epoch
    that improves `monitor` when one is given (NaN never improves).

    Args:
        path: Path. The `.keras` file.
        monitor: str or None. The log to watch; None saves every epoch. Defaults to None.
        mode: str. "max" or "min". Defaults to "max".
        best_so_far: float or None. The best value of the epochs already done. Defaults to None.
        float32: bool. Save the model with float32 layers (`tfseg.distribution.float32_while`),
            so that it loads and predicts as the exports do whatever the training precision;
            training goes on in its own. False saves the training precision. Defaults to False.
    """

    def __init__(self, path: Path, monitor: str | None = None, mode: str = "max", best_so_far: float | None = None,
                 float32: bool = False) -> None:
        super().__init__()
        self.path, self.monitor, self.mode, self.best = Path(path), monitor, mode, best_so_far
        self.float32 = float32

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Saves when due."""
        if self.monitor is not None:
            value = (logs or {}).get(self.monitor)
            if value is None or not math.isfinite(float(value)):
                return
            value = float(value)
            if self.best is not None and not (value > self.best if self.mode == "max" else value < self.best):
                return
            self.best = value
        with atomic_path(self.path) as temporary, float32_while(self.model) if self.float32 else nullcontext():
            self.model.save(temporary)


class SaveState(keras.callbacks.Callback):
    """Saves the weights and optimizer state after every epoch into the run's `backup/`
    (`tfseg.run_state.save_state`: a new generation, the previous one kept until it is complete).

    Args:
        run: RunDir. The run directory (or a worker's folder).
    """

    def __init__(self, run: RunDir) -> None:
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Writes the state of `epoch + 1` completed epochs."""
        save_state(self.model, self.run.path, epoch + 1)


class GracefulStop(keras.callbacks.Callback):
    """SIGTERM and SIGINT (Ctrl-C) end training cleanly at the end of the current epoch.

    Used as a context manager around `fit`: it installs the handlers (main thread only) and
    restores the previous ones. The first signal is noted and training stops after the
    epoch under way has been written (history, checkpoints, saved state); `signal_name`
    then names it. A second signal exits at once (SystemExit with 128 + the signal number),
    losing only the epoch under way.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        super().__init__()
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, number: int, frame: Any) -> None:
        if self.signal_name is not None:
            raise SystemExit(128 + number)
        self.signal_name = signal.Signals(number).name
        print(f"\ntfseg: {self.signal_name} received; stopping after this epoch is saved (send it again to stop now)",
              flush=True)

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._handle) for number in self.SIGNALS}
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Stops training once a signal has arrived (the epoch's files are written by then)."""
        if self.signal_name is not None:
            self.model.stop_training = True


def make_callbacks(
    train: TrainConfig,
    run: RunDir,
    validation_images: tuple[np.ndarray, np.ndarray] | None,
    history: pd.DataFrame | None,
    best_so_far: float | None,
    stop: GracefulStop,
) -> list[keras.callbacks.Callback]:
    """The callbacks of a run writing into `run`, in the order they run at the end of an epoch.

    Metric names as for one output (FinalHeadLogNames), FreezeEncoder as configured,
    TerminateOnNaN, `history.csv`, `best.keras` (best `train.monitor`, saved as the float32 model that
    prediction and export run), `last.keras` (in the training precision), the
    saved state for resuming (kept after training, so a finished run can be extended with
    a larger `--epochs`), TensorBoard scalars and validation images, EarlyStopping and
    ReduceLROnPlateau as configured, and last the signal check.

    Args:
        train: TrainConfig. Monitor, patience, schedule, encoder freezing.
        run: RunDir. The run directory (or a worker's folder).
        validation_images: (images, masks) for TensorBoard, or None for none.
        history: DataFrame or None. The history rows of the epochs already done (resume).
        best_so_far: float or None. Best monitored value of the epochs already done
            (resume), so `best.keras` is only replaced by a better epoch.
        stop: GracefulStop. Ends training after the epoch in which a signal arrived.
    """
    mode = monitor_mode(train.monitor)
    callbacks: list[keras.callbacks.Callback] = [FinalHeadLogNames()]
    if train.freeze_encoder_epochs:
        callbacks.append(FreezeEncoder(train.freeze_encoder_epochs))
    callbacks += [
        keras.callbacks.TerminateOnNaN(),
        HistoryLog(run.history, history),
        SaveModel(run.best, train.monitor, mode, best_so_far, float32=True),
        SaveModel(run.last),
        SaveState(run),
        keras.callbacks.TensorBoard(log_dir=str(run.tensorboard)),
    ]
    if validation_images is not None:
        callbacks.append(ValidationImages(run.tensorboard, *validation_images))
    if train.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=train.monitor, mode=mode, patience=train.early_stopping_patience,
                min_delta=train.early_stopping_min_delta,
            )
        )
    if train.schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=train.monitor, mode=mode, factor=train.plateau_factor,
                patience=train.plateau_patience, min_lr=train.min_lr,
            )
        )
    return callbacks + [stop]
