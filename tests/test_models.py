import keras
import numpy as np
import pytest

from tfseg import losses, metrics, models
from tfseg.data.synthetic import make_sample
from tfseg.errors import TfsegError


def test_registry_names_and_unknown_name():
    assert "unet" in models.names()
    with pytest.raises(TfsegError, match="unknown model 'unte'; valid: .*unet"):
        models.build("unte", (32, 32, 1))
    with pytest.raises(TfsegError, match="unexpected keyword argument 'base_filtres'"):
        models.build("unet", (32, 32, 1), base_filtres=4)


@pytest.mark.parametrize("classes, activation", [(1, "sigmoid"), (4, "softmax")])
def test_unet_shapes_and_float32_head(classes, activation):
    model = models.build("unet", (32, 48, 3), classes, depth=3, base_filters=4)
    assert model.output_shape == (None, 32, 48, classes)
    assert model.layers[-1].name == f"head_{activation}" and model.layers[-1].dtype_policy.name == "float32"
    out = model.predict_on_batch(np.random.rand(2, 32, 48, 3).astype("float32"))
    if classes == 1:
        assert 0 <= out.min() and out.max() <= 1
    else:
        np.testing.assert_allclose(out.sum(-1), 1, rtol=1e-5)


def test_unet_original_structure():
    model = models.build("unet", (64, 64, 1), depth=4, base_filters=64)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.Conv2DTranspose)]
    assert len(convs) == 4 * 2 + 2 + 4 * 2 + 1  # encoder, bottleneck, decoder, head
    assert len([l for l in model.layers if isinstance(l, keras.layers.MaxPooling2D)]) == 4
    assert len([l for l in model.layers if isinstance(l, keras.layers.Conv2DTranspose)]) == 4
    assert model.get_layer("bottleneck_2_conv").filters == 1024
    assert models.build("unet", (64, 64, 1), batch_norm=False, dropout=0.5).get_layer("bottleneck_dropout").rate == 0.5


def test_input_size_not_multiple_of_stride():
    with pytest.raises(TfsegError, match="input height 100 is not a multiple of the output stride 16; nearest valid sizes: 96 or 112"):
        models.build("unet", (100, 64, 1))


def _tiny_set():
    pairs = [make_sample(seed, 32) for seed in range(8)]
    x = np.stack([p[0] for p in pairs])[..., None].astype("float32") / 255
    y = np.stack([p[1] for p in pairs])[..., None].astype("float32") / 255
    return x, y


def test_unet_overfits_a_tiny_set():
    keras.utils.set_random_seed(0)
    x, y = _tiny_set()
    model = models.build("unet", (32, 32, 1), depth=2, base_filters=8)
    model.compile(keras.optimizers.Adam(3e-3), losses.get("bce+dice"), metrics=metrics.training_metrics())
    history = model.fit(x, y, batch_size=8, epochs=40, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["dice"][-1] > 0.8


def test_keras_save_load_same_predictions(tmp_path):
    x, y = _tiny_set()
    model = models.build("unet", (32, 32, 1), depth=2, base_filters=4)
    model.compile("adam", losses.get("bce+jaccard"), metrics=metrics.training_metrics())
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")  # no custom_objects
    np.testing.assert_allclose(restored.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)
    assert isinstance(restored.loss, losses.CombinedLoss)
