"""Batch normalisation through TensorFlow's fused kernel.

Keras 3's `BatchNormalization` computes the batch moments and the normalisation as
separate element-wise TensorFlow ops (`tf.nn.moments`, `tf.nn.batch_normalization`):
several passes over every activation forward and more backward. TensorFlow's
`FusedBatchNormV3` (oneDNN on CPU, cuDNN on GPU) does it in one kernel each way.
Batch norm follows nearly every convolution in these models and is memory-bound, so
on CPU it is a large share of a training step (benchmarks/NOTES.md measures it).

`BatchNormalization` here is Keras' layer with the same variables, config, results and
class name (so `.weights.h5` files, which name layers after their class, load either
way), computing through the fused kernel where it applies (TensorFlow backend, 4-D
channels-last input, no mask, renorm or synchronisation) and through Keras' own code
everywhere else (e.g. on the JAX backend). `use_fused_batch_norm` turns every Keras
batch-norm layer of a built model, nested models included, into this one.
"""

from __future__ import annotations

import keras

from tfseg.models.blocks import leaf_layers

_FUSED_DTYPES = ("float32", "float16", "bfloat16")


@keras.saving.register_keras_serializable(package="tfseg")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` through TensorFlow's fused kernel where it
    applies; the same results (to float rounding), weights and config."""

    def _fused_applies(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and not self.renorm
            and not self.synchronized
            and keras.backend.standardize_dtype(inputs.dtype) in _FUSED_DTYPES
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fused_applies(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones([channels], "float32")
        beta = self.beta if self.center else tf.zeros([channels], "float32")
        gamma, beta = tf.cast(gamma, "float32"), tf.cast(beta, "float32")
        if training and self.trainable:
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, epsilon=self.epsilon, is_training=True
            )
            # the kernel returns the unbiased (n - 1) variance; Keras' moving variance uses the biased one
            count = tf.cast(tf.size(inputs) // channels, "float32")
            variance = variance * ((count - 1.0) / count)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, mean=tf.cast(self.moving_mean, "float32"),
                variance=tf.cast(self.moving_variance, "float32"), epsilon=self.epsilon, is_training=False,
            )
        return tf.cast(outputs, self.compute_dtype)


def use_fused_batch_norm(model: keras.Model) -> keras.Model:
    """Makes every `keras.layers.BatchNormalization` of `model` and of the models nested
    in it this module's `BatchNormalization`, in place, and returns `model`.

    The layers keep their variables, config and place in the graph; only the class,
    and so how `call` computes, changes. Done on the built model so that backbones
    built by keras.applications get it too without being rebuilt.
    """
    for layer in leaf_layers(model):
        if type(layer) is keras.layers.BatchNormalization:
            layer.__class__ = BatchNormalization
    return model
