"""The checks of a run's exports, each predicted by its runtime on the val split (train.py prints them)."""

import json

import pandas as pd
import pytest

from tfseg.export.onnx import ONNX_OPSET

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[onnx]')")


@pytest.mark.slow
def test_train_checks_every_export_in_its_runtime_on_the_val_split(exported_run):
    card = json.loads((exported_run / "export" / "model_card.json").read_text())
    assert card["files"] == {"saved_model": ".", "tflite": "model.tflite", "tflite-float16": "model_float16.tflite",
                             "tflite-int8": "model_int8.tflite", "onnx": "model.onnx"}
    assert card["onnx"]["opset"] == ONNX_OPSET and card["onnx"]["input"]["shape"] == [None, 32, 32, 1]
    assert card["geometry"] == {"mode": "resize", "size": [32, 32], "overlap": None}
    assert card["activation"] == "sigmoid" and card["class_names"] == ["background", "foreground"]
    checks = pd.read_csv(exported_run / "export" / "checks.csv").set_index("format")
    assert list(checks.index) == ["keras", "saved_model", "tflite", "tflite-float16", "tflite-int8", "onnx"]
    assert (checks.loc[["saved_model", "tflite", "onnx"], "max_abs_diff"] < 1e-4).all()
    assert (checks.loc[["tflite-float16", "tflite-int8"], "dice_change"].abs() <= 0.02).all()
    assert 0 < checks.loc["tflite-int8", "max_abs_diff"] < 0.2  # really quantised, still close
    assert checks.loc["tflite-int8", "megabytes"] < checks.loc["tflite-float16", "megabytes"] < checks.loc["tflite", "megabytes"]
