"""ONNX exports, checked by the runtimes that run them: onnxruntime and OpenCV's DNN module."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tfseg import models
from tfseg.distribution import float32_layers
from tfseg.export import ONNX_OPSET, OnnxModel, write_onnx

ROOT = Path(__file__).resolve().parents[1]
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


def test_train_exports_onnx_and_predict_py_runs_it_with_the_same_masks(tiny_dataset, tmp_path):
    run_dir = tmp_path / "run"
    train = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--config", str(ROOT / "tests" / "tiny_unet.yaml"), "--data",
         str(tiny_dataset), "--image-size", "32", "32", "--epochs", "1", "--export", "onnx", "--run-dir", str(run_dir)],
        capture_output=True, text=True,
    )
    assert train.returncode == 0, train.stderr[-2000:]
    card = json.loads((run_dir / "export" / "model_card.json").read_text())
    assert card["files"]["onnx"] == "model.onnx" and card["onnx"]["opset"] == ONNX_OPSET
    images = tiny_dataset / "images"
    for model, out in ((run_dir / "export" / "model.onnx", "onnx"), (run_dir / "best.keras", "keras")):
        done = subprocess.run([sys.executable, str(ROOT / "predict.py"), str(model), str(images), "--out", str(tmp_path / out)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    names = sorted(path.name for path in (tmp_path / "keras" / "masks").iterdir())
    assert names and names == sorted(path.name for path in (tmp_path / "onnx" / "masks").iterdir())
    for name in names:
        keras_mask = cv2.imread(str(tmp_path / "keras" / "masks" / name), cv2.IMREAD_UNCHANGED)
        onnx_mask = cv2.imread(str(tmp_path / "onnx" / "masks" / name), cv2.IMREAD_UNCHANGED)
        assert (keras_mask == onnx_mask).all(), name
