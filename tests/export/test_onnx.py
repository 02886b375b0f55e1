"""The ONNX format: written by Keras' exporter, run by onnxruntime and OpenCV's DNN module."""

import cv2
import numpy as np
import pytest

from tfseg import models
from tfseg.distribution import float32_layers
from tfseg.export.onnx import ONNX_OPSET, OnnxModel, write_onnx

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[onnx]')")


@pytest.mark.parametrize("name, options, classes", [
    ("unet", {"depth": 2, "base_filters": 4}, 1),
    ("unetpp", {"depth": 2, "base_filters": 4, "deep_supervision": True}, 3),  # exports its last head
    ("segnet", {"base_filters": 4}, 3),  # index unpooling
    ("linknet", {"base_filters": 4}, 1),
    ("unet_resnet18", {"encoder_weights": None}, 4),  # a pretrained-encoder model, random weights here
])
def test_onnxruntime_and_opencv_reproduce_the_keras_probabilities(name, options, classes, tmp_path):
    model = models.final_head(float32_layers(models.build(name, (32, 32, 3), classes, **options)))
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    expected = model.predict_on_batch(images)
    info = write_onnx(model, tmp_path / "model.onnx")
    assert info["opset"] == ONNX_OPSET and info["input"]["shape"] == [None, 32, 32, 3]  # dynamic batch
    assert info["output"]["shape"] == [None, 32, 32, classes] and "tf2onnx" in info["converter"]
    np.testing.assert_allclose(OnnxModel(tmp_path / "model.onnx").predict_on_batch(images), expected, atol=1e-4)
    net = cv2.dnn.readNetFromONNX(str(tmp_path / "model.onnx"))
    net.setInput(images)
    np.testing.assert_allclose(net.forward().reshape(expected.shape), expected, atol=1e-4)


def test_fixed_batch_onnx_runs_any_batch_in_chunks(tmp_path):
    model = models.final_head(float32_layers(models.build("unet", (32, 32, 1), 1, depth=2, base_filters=4)))
    info = write_onnx(model, tmp_path / "model.onnx", batch=2)
    assert info["input"]["shape"] == [2, 32, 32, 1]
    images = np.random.default_rng(1).random((3, 32, 32, 1), dtype=np.float32)
    np.testing.assert_allclose(OnnxModel(tmp_path / "model.onnx").predict_on_batch(images),
                               model.predict_on_batch(images), atol=1e-4)
