"""Callbacks: freezing the encoder for the first epochs."""

import keras
import numpy as np

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
