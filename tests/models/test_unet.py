"""U-Net: the original structure, the sampling variants, the centre block on VGG,
overfitting a tiny set and saving with the compiled loss."""

import keras
import numpy as np

from tfseg import losses, metrics, models
from tfseg.data.synthetic import make_sample


def test_unet_original_structure():
    model = models.build("unet", (64, 64, 1), depth=4, base_filters=64)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.Conv2DTranspose)]
    assert len(convs) == 4 * 2 + 2 + 4 * 2 + 1  # encoder, bottleneck, decoder, head
    assert len([l for l in model.layers if isinstance(l, keras.layers.MaxPooling2D)]) == 4
    assert len([l for l in model.layers if isinstance(l, keras.layers.Conv2DTranspose)]) == 4
    assert model.get_layer("bottleneck_2_conv").filters == 1024
    assert models.build("unet", (64, 64, 1), batch_norm=False, dropout=0.5).get_layer("bottleneck_dropout").rate == 0.5


def test_unet_variants_swap_the_sampling_layers():
    upsample = models.build("unet_upsample", (32, 32, 1), 1, depth=2, base_filters=4)
    assert isinstance(upsample.get_layer("dec1_up"), keras.layers.UpSampling2D)
    assert upsample.get_layer("dec1_up").interpolation == "nearest"
    convpool = models.build("unet_convpool", (32, 32, 1), 1, depth=2, base_filters=4)
    assert not [layer for layer in convpool.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert convpool.get_layer("enc1_down_conv").strides == (2, 2)


def test_unet_on_vgg_starts_with_a_centre_block_on_the_last_pooling():
    # VGG's stride-32 feature is block5_pool, with no conv after it; segmentation_models
    # and segmentation_models.pytorch put two 3×3 conv-BN-ReLU (512) there.
    vgg = models.build("unet_vgg16", (32, 32, 3), 1, decoder_filters=(8, 8, 4, 4, 4))
    center = vgg.get_layer("center_1_conv")
    assert center.filters == 512 and center.kernel_size == (3, 3)
    assert center.input.shape[1:] == (1, 1, 512)
    mobilenet = models.build("unet_mobilenetv2", (32, 32, 3), 1, decoder_filters=(8, 8, 4, 4, 4))
    assert not [layer for layer in mobilenet.layers if layer.name.startswith("center")]


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
