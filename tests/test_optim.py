"""Optimizers: the encoder learning-rate multiplier and saving optimizers that carry it."""

import keras
import numpy as np
import pytest

from tests.conftest import nested_encoder_model
from tfseg.config import config_from_dict
from tfseg.optim import AdamW, make_optimizer, steps_per_epoch


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_encoder_multiplier_shrinks_encoder_updates(optimizer):
    images = np.random.default_rng(2).random((4, 8, 8, 1), dtype=np.float32)
    masks = (images > 0.5).astype(np.float32)
    keras.utils.set_random_seed(0)
    template = nested_encoder_model()
    updates = {}
    for multiplier in (1.0, 0.1):
        model = nested_encoder_model()
        model.set_weights(template.get_weights())
        settings = config_from_dict({"train": {"optimizer": optimizer, "encoder_lr_multiplier": multiplier}}).train
        opt = make_optimizer(settings, steps_per_epoch=1)
        opt.scale_learning_rate(model.get_layer("encoder").trainable_variables)
        model.compile(optimizer=opt, loss="binary_crossentropy")
        model.train_on_batch(images, masks)
        updates[multiplier] = [w - w0 for w, w0 in zip(model.get_weights(), template.get_weights())]
    encoder_count = len(template.get_layer("encoder").weights)
    for index, (full, scaled) in enumerate(zip(updates[1.0], updates[0.1])):
        factor = 0.1 if index < encoder_count else 1.0
        np.testing.assert_allclose(scaled, factor * full, rtol=1e-3, atol=1e-7)
        assert np.abs(full).max() > 0


def test_optimizer_with_encoder_multiplier_round_trips(tmp_path):
    model = nested_encoder_model()
    model.compile(optimizer=AdamW(learning_rate=1e-3, weight_decay=1e-4, encoder_lr_multiplier=0.1), loss="mse")
    model.train_on_batch(np.ones((2, 8, 8, 1), np.float32), np.zeros((2, 8, 8, 1), np.float32))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, AdamW)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(restored))


def test_steps_per_epoch_is_one_pass_or_the_configured_count():
    one_pass = config_from_dict({"train": {"batch_size": 8}}).train
    assert steps_per_epoch(one_pass, 17) == 3 and steps_per_epoch(one_pass, 0) == 1
    fixed = config_from_dict({"train": {"batch_size": 8, "steps_per_epoch": 250}}).train
    assert steps_per_epoch(fixed, 17) == 250
