"""Loading a model to predict with: a run, a `.keras` file or an export, each in its runtime."""

import numpy as np
import pytest

from tests.export.conftest import read_masks, run_command
from tfseg.cli import predict_main
from tfseg.config import Config
from tfseg.errors import TfsegError
from tfseg.export.loading import load_predictor
from tfseg.run import RunDir

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[onnx]')")


def test_predict_py_gives_the_run_folders_masks_with_each_float_export(exported_run, tiny_dataset, tmp_path):
    images = tiny_dataset / "images"
    export = exported_run / "export"
    outputs = {"run": exported_run, "saved_model": export, "onnx": export / "model.onnx", "tflite": export / "model.tflite",
               "int8": export / "model_int8.tflite"}
    done = run_command("predict.py", outputs.pop("onnx"), images, "--out", tmp_path / "onnx")  # the command itself
    assert done.returncode == 0, done.stderr[-2000:]
    for out, model in outputs.items():  # the same entry point, in this process
        assert predict_main([str(model), str(images), "--out", str(tmp_path / out)]) == 0, out
    expected = read_masks(tmp_path / "run")
    assert len(expected) == 24
    for out in ("saved_model", "onnx", "tflite"):
        masks = read_masks(tmp_path / out)
        assert masks.keys() == expected.keys()
        for name, mask in masks.items():
            assert (mask == expected[name]).all(), f"{out}: {name}"
    int8 = read_masks(tmp_path / "int8")
    agreement = np.mean([np.mean(int8[name] == mask) for name, mask in expected.items()])
    assert agreement > 0.98  # quantised: nearly the same pixels


def test_missing_models_give_one_line_errors(tmp_path):
    with pytest.raises(TfsegError, match="does not exist, expected a run directory"):
        load_predictor(tmp_path / "nothing")
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(TfsegError, match="not a model"):
        load_predictor(tmp_path / "model.txt")
    Config().save(RunDir(tmp_path).config)
    with pytest.raises(TfsegError, match="no best.keras"):
        load_predictor(tmp_path)
