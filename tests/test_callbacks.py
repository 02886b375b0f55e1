"""Callbacks: freezing the encoder for the first epochs, the history log, model checkpoints."""

import keras
import numpy as np
import pandas as pd

from tests.conftest import nested_encoder_model
from tfseg.callbacks import FreezeEncoder
from tfseg.config import config_from_dict
from tfseg.optim import make_optimizer


class RecordWeights(keras.callbacks.Callback):
    """Keeps a copy of every weight at the end of each epoch."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append([weight.copy() for weight in self.model.get_weights()])


def test_freeze_encoder_trains_only_the_decoder_first():
    images = np.random.default_rng(3).random((4, 8, 8, 1), dtype=np.float32)
    masks = (images > 0.5).astype(np.float32)
    model = nested_encoder_model()
    start = [weight.copy() for weight in model.get_weights()]
    model.compile(optimizer=make_optimizer(config_from_dict({}).train, steps_per_epoch=1), loss="binary_crossentropy")
    model.optimizer.build(model.trainable_variables)  # as build_model does: all variables, before freezing
    recorder = RecordWeights()
    model.fit(images, masks, batch_size=4, epochs=2, verbose=0, callbacks=[FreezeEncoder(1), recorder])
    encoder_count = len(model.get_layer("encoder").weights)
    after_first, after_second = recorder.epochs
    assert all(np.array_equal(a, b) for a, b in zip(after_first[:encoder_count], start[:encoder_count]))
    assert not any(np.array_equal(a, b) for a, b in zip(after_first[encoder_count:], start[encoder_count:]))
    assert not any(np.array_equal(a, b) for a, b in zip(after_second[:encoder_count], after_first[:encoder_count]))


def test_history_log_rewrites_the_whole_file_with_each_epoch_once(tmp_path):
    from tfseg.callbacks import HistoryLog

    path = tmp_path / "history.csv"
    log = HistoryLog(path, pd.DataFrame({"epoch": [1], "loss": [0.9], "val_iou": [0.1]}))
    log.on_epoch_end(1, {"val_iou": 0.2, "loss": 0.8})  # Keras counts from 0: the second epoch
    log.on_epoch_end(1, {"val_iou": 0.3, "loss": 0.7})  # the same epoch again (a retried epoch) replaces its row
    table = pd.read_csv(path)
    assert table.columns.tolist() == ["epoch", "loss", "val_iou", "epoch_seconds"]
    assert table[["epoch", "loss", "val_iou"]].values.tolist() == [[1, 0.9, 0.1], [2, 0.7, 0.3]]
    assert table["epoch_seconds"].isna().tolist() == [True, False] and table["epoch_seconds"][1] >= 0
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_save_model_keeps_the_best_and_ignores_nan(tmp_path):
    from tfseg.callbacks import SaveModel

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    best = SaveModel(tmp_path / "best.keras", "val_iou", "max", best_so_far=0.5)
    best.set_model(model)
    best.on_epoch_end(0, {"val_iou": 0.4})  # not better than the epochs before a resume
    assert not (tmp_path / "best.keras").exists()
    best.on_epoch_end(1, {"val_iou": 0.6})
    saved = (tmp_path / "best.keras").stat().st_mtime_ns
    best.on_epoch_end(2, {"val_iou": float("nan")})
    best.on_epoch_end(3, {"val_iou": 0.6})  # equal is not better
    assert (tmp_path / "best.keras").stat().st_mtime_ns == saved and best.best == 0.6
    keras.saving.load_model(tmp_path / "best.keras")


def test_save_model_in_float32_leaves_the_training_precision_to_the_model(tmp_path):
    from tfseg.callbacks import SaveModel

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, dtype="mixed_bfloat16"),
                              keras.layers.Conv2D(1, 1, dtype="float32")])
    saver = SaveModel(tmp_path / "best.keras", float32=True)
    saver.set_model(model)
    saver.on_epoch_end(0, {})
    loaded = keras.saving.load_model(tmp_path / "best.keras")
    assert [layer.dtype_policy.name for layer in loaded.layers] == ["float32", "float32"]
    assert [layer.dtype_policy.name for layer in model.layers] == ["mixed_bfloat16", "float32"]
