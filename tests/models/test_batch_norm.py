"""tfseg.models.batch_norm.BatchNormalization gives Keras' BatchNormalization's results through the fused kernel,
and every registered model uses it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfseg import models
from tfseg.distribution import dtype_policy
from tfseg.models.batch_norm import BatchNormalization as FusedBatchNormalization
from tfseg.models.batch_norm import use_fused_batch_norm

TOLERANCE = {"float32": 1e-5, "mixed_float16": 2e-3, "mixed_bfloat16": 2e-2}


def _pair(shape, **options):
    """A Keras and a fused layer with the same random weights."""
    keras_layer, fused = keras.layers.BatchNormalization(**options), FusedBatchNormalization(**options)
    keras_layer.build(shape)
    fused.build(shape)
    rng = np.random.default_rng(1)
    weights = [rng.random(shape[-1], dtype=np.float32) + 0.5 for _ in keras_layer.get_weights()]
    keras_layer.set_weights(weights)
    fused.set_weights(weights)
    return keras_layer, fused


@pytest.mark.parametrize("precision", list(TOLERANCE))
def test_training_outputs_gradients_and_moving_statistics_match_keras(precision):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(2.0, 3.0, (4, 9, 7, 5)).astype(np.float32))
    weights = tf.constant(rng.normal(size=images.shape).astype(np.float32))  # a loss whose gradient is not ~0
    with dtype_policy(precision):
        keras_layer, fused = _pair(images.shape, momentum=0.9)
        results = []
        for layer in (keras_layer, fused):
            with tf.GradientTape() as tape:
                tape.watch(images)
                outputs = layer(images, training=True)
                loss = tf.reduce_sum(tf.cast(outputs, "float32") * weights)
            gradients = tape.gradient(loss, [images, layer.gamma, layer.beta])
            results.append([outputs, *gradients, layer.moving_mean, layer.moving_variance])
    assert results[1][0].dtype == results[0][0].dtype
    tolerance = TOLERANCE[precision]
    for expected, actual in zip(*results):
        expected, actual = np.asarray(expected, np.float32), np.asarray(actual, np.float32)
        np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max())


def test_inference_uses_the_moving_statistics_as_keras_does():
    images = np.random.default_rng(2).normal(size=(2, 6, 6, 3)).astype(np.float32)
    keras_layer, fused = _pair(images.shape, epsilon=1e-5, center=False)
    np.testing.assert_allclose(fused(images, training=False), keras_layer(images, training=False), atol=1e-5)


def test_other_inputs_take_keras_own_path():
    sequence = np.random.default_rng(3).normal(size=(2, 5, 4)).astype(np.float32)  # 3-D: not fused
    keras_layer, fused = _pair(sequence.shape)
    np.testing.assert_allclose(fused(sequence, training=True), keras_layer(sequence, training=True), atol=1e-5)


def test_every_batch_norm_of_a_registered_model_is_fused_nested_encoder_included():
    model = models.build("unet_resnet18", (32, 32, 3), 1)
    norms = [layer for layer in models.get_encoder(model).layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(type(layer) is FusedBatchNormalization for layer in norms)
    assert not any(type(layer) is keras.layers.BatchNormalization for layer in model.layers)


@pytest.mark.slow
def test_a_fused_model_saves_and_loads_with_the_same_predictions(tmp_path):
    model = use_fused_batch_norm(models.build("linknet", (32, 32, 1), 1, base_filters=4))
    images = np.random.default_rng(4).random((2, 32, 32, 1), dtype=np.float32)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.train_on_batch(images, (images > 0.5).astype(np.float32))  # moves the statistics away from 0 and 1
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert any(type(layer) is FusedBatchNormalization for layer in loaded.layers)
    np.testing.assert_allclose(loaded.predict_on_batch(images), model.predict_on_batch(images), atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_the_graph_runs_the_fused_kernel(training):
    layer = FusedBatchNormalization()
    layer.build((2, 4, 4, 3))
    graph = tf.function(lambda x: layer(x, training=training)).get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3), tf.float32)).graph
    assert any(op.type.startswith("FusedBatchNorm") for op in graph.get_operations())
