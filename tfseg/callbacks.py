"""The callbacks of a training run: checkpoints, logs, schedules, resume, images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfseg import models
from tfseg.config import TrainConfig
from tfseg.run import RunDir

def monitor_mode(monitor: str) -> str:
    """`min` for losses (`val_loss`, `val_dice_loss`, …), `max` for scores."""
    return "min" if monitor.endswith("loss") else "max"


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
        images: array (N, H, W, C) in [0, 1]. Validation images.
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
            tf.summary.image("validation/image", self.images, step=epoch, max_outputs=len(self.images))
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


def make_callbacks(
    train: TrainConfig, run: RunDir, validation_images: tuple[np.ndarray, np.ndarray] | None, best_so_far: float | None
) -> list[keras.callbacks.Callback]:
    """The callbacks of a run writing into `run`.

    Metric names as for one output (FinalHeadLogNames), history (CSVLogger, appending),
    backup for resume (BackupAndRestore in `run_dir/backup`, kept after training so a
    finished run can be extended with a larger `--epochs`), `best.keras` (best
    `train.monitor`) and `last.keras`, TerminateOnNaN, TensorBoard scalars and
    validation images, and as configured EarlyStopping, ReduceLROnPlateau and
    FreezeEncoder.

    Args:
        train: TrainConfig. Monitor, patience, schedule, encoder freezing.
        run: RunDir. The run directory (or a worker's folder).
        validation_images: (images, masks) for TensorBoard, or None for none.
        best_so_far: float or None. Best monitored value of the epochs already done
            (resume), so `best.keras` is only replaced by a better epoch.
    """
    mode = monitor_mode(train.monitor)
    callbacks: list[keras.callbacks.Callback] = [FinalHeadLogNames()]
    if train.freeze_encoder_epochs:
        callbacks.append(FreezeEncoder(train.freeze_encoder_epochs))
    callbacks += [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(run.history, append=True),
        keras.callbacks.BackupAndRestore(run.backup, delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(
            run.best, monitor=train.monitor, mode=mode, save_best_only=True, initial_value_threshold=best_so_far,
        ),
        keras.callbacks.ModelCheckpoint(run.last),
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
    return callbacks
