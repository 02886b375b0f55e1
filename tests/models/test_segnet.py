import keras
import numpy as np
import pytest

from tfseg import models
from tfseg.models.segnet import MaxUnpooling2D


def test_unpooling_places_values_at_the_argmax_positions():
    first = np.array([[1, 3, 0, 0], [2, 0, 5, 5], [7, 1, 2, 2], [0, 7, 2, 2]], "float32")
    before_pool = np.stack([first, -first], axis=-1)[None]  # (1, 4, 4, 2)
    pooled = np.array([[[10, 11], [20, 21]], [[30, 31], [40, 41]]], "float32")[None]  # (1, 2, 2, 2)
    out = keras.ops.convert_to_numpy(MaxUnpooling2D()([before_pool, pooled]))[0]
    # Channel 0: window maxima 3 at (0,1); 5 at (1,2) (first of a tie); 7 at (2,0)
    # (first of a tie); 2 everywhere in the last window → its first position (2,2).
    expected_0 = np.array([[0, 10, 0, 0], [0, 0, 20, 0], [30, 0, 40, 0], [0, 0, 0, 0]], "float32")
    # Channel 1 (negated): maxima 0 at (1,1); 0 tie at (0,2); 0 at (3,0); -2 tie at (2,2).
    expected_1 = np.array([[0, 0, 21, 0], [0, 11, 0, 0], [0, 0, 41, 0], [31, 0, 0, 0]], "float32")
    np.testing.assert_array_equal(out[..., 0], expected_0)
    np.testing.assert_array_equal(out[..., 1], expected_1)


def test_unpooling_inverts_max_pooling_on_the_maxima():
    rng = np.random.default_rng(0)
    before_pool = rng.random((2, 8, 8, 3)).astype("float32")  # no ties
    pooled = keras.ops.convert_to_numpy(keras.layers.MaxPooling2D(2)(before_pool))
    restored = keras.ops.convert_to_numpy(MaxUnpooling2D()([before_pool, pooled]))
    kept = restored != 0
    np.testing.assert_array_equal(restored[kept], before_pool[kept])  # each max at its own place
    assert kept.sum() == pooled.size  # one non-zero per window


@pytest.mark.slow
def test_segnet_trains_on_batches_of_unknown_height_and_width():
    """tf.data batches can have unknown spatial sizes (e.g. after an affine augmentation of
    a non-square image); the unpooling then reads the sizes at run time."""
    import tensorflow as tf

    model = models.build("segnet", (64, 96, 3), 1, base_filters=4)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    rng = np.random.default_rng(1)
    images, masks = rng.random((4, 64, 96, 3), dtype=np.float32), (rng.random((4, 64, 96, 1)) > 0.5).astype("float32")
    signature = (tf.TensorSpec((None, None, None, 3)), tf.TensorSpec((None, None, None, 1)))
    data = tf.data.Dataset.from_generator(lambda: iter([(images[:2], masks[:2]), (images[2:], masks[2:])]),
                                          output_signature=signature)
    assert data.element_spec[0].shape.as_list() == [None, None, None, 3]
    history = model.fit(data, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_segnet_structure_is_vgg16_with_mirrored_unpooling():
    model = models.build("segnet", (32, 32, 1), 1, base_filters=4)
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len([name for name in convs if name.startswith("enc")]) == 13
    assert len([name for name in convs if name.startswith("dec")]) == 13
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]) == 5
    assert len([layer for layer in model.layers if isinstance(layer, MaxUnpooling2D)]) == 5
    assert model.get_layer("enc5_3_conv").filters == 32 and model.get_layer("dec1_2_conv").filters == 4
