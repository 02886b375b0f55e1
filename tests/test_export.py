"""Exports checked by the runtimes that run them: onnxruntime and OpenCV's DNN module for
ONNX, LiteRT for TFLite (float and quantised); export.py and predict.py with each export."""

import contextlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from tfseg import models
from tfseg.cli import export_main, predict_main
from tfseg.distribution import float32_layers
from tfseg.errors import TfsegError
from tfseg.export import ONNX_OPSET, OnnxModel, TfliteModel, write_onnx, write_saved_model, write_tflite

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


@pytest.mark.parametrize("name, options, classes", [
    ("unet", {"depth": 2, "base_filters": 4}, 1),
    ("unetpp", {"depth": 2, "base_filters": 4, "deep_supervision": True}, 3),
    ("segnet", {"base_filters": 4}, 3),
    ("unet_resnet18", {"encoder_weights": None}, 4),
])
def test_litert_runs_the_tflite_files_float_and_quantised(name, options, classes, tmp_path):
    model = models.final_head(float32_layers(models.build(name, (32, 32, 3), classes, **options)))
    images = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    expected = model.predict_on_batch(images)
    write_saved_model(model, tmp_path / "saved")
    tolerance = {"float32": 1e-4, "float16": 5e-3, "int8": 0.1}
    for quantization, atol in tolerance.items():
        path = tmp_path / f"{quantization}.tflite"
        write_tflite(tmp_path / "saved", path, quantization, representative=list(images))
        tflite = TfliteModel(path)
        assert tflite.input_shape == (None, 32, 32, 3)
        got = tflite.predict_on_batch(images)  # the interpreter is resized to any batch
        np.testing.assert_allclose(got, expected, atol=atol, err_msg=quantization)
        assert tflite.predict_on_batch(images[:1]).shape == (1, 32, 32, classes)
    sizes = {quantization: (tmp_path / f"{quantization}.tflite").stat().st_size for quantization in tolerance}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]


def test_int8_needs_representative_images(tmp_path):
    model = models.build("unet", (32, 32, 1), 1, depth=2, base_filters=4)
    write_saved_model(model, tmp_path / "saved")
    with pytest.raises(TfsegError, match="int8 quantisation needs representative images"):
        write_tflite(tmp_path / "saved", tmp_path / "model.tflite", "int8", representative=[])


def test_fixed_batch_onnx_runs_any_batch_in_chunks(tmp_path):
    model = models.final_head(float32_layers(models.build("unet", (32, 32, 1), 1, depth=2, base_filters=4)))
    info = write_onnx(model, tmp_path / "model.onnx", batch=2)
    assert info["input"]["shape"] == [2, 32, 32, 1]
    images = np.random.default_rng(1).random((3, 32, 32, 1), dtype=np.float32)
    np.testing.assert_allclose(OnnxModel(tmp_path / "model.onnx").predict_on_batch(images),
                               model.predict_on_batch(images), atol=1e-4)


def _script(name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / name), *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def exported_run(tiny_dataset, tmp_path_factory) -> Path:
    """A tiny U-Net trained for 3 epochs by train.py with every TFLite format and ONNX."""
    run_dir = tmp_path_factory.mktemp("exported") / "run"
    train = _script("train.py", "--config", ROOT / "tests" / "tiny_unet.yaml", "--data", tiny_dataset, "--image-size",
                    32, 32, "--epochs", 3, "--export", "tflite", "tflite-float16", "tflite-int8", "onnx",
                    "--run-dir", run_dir)
    assert train.returncode == 0, train.stderr[-2000:]
    assert "exports of" in train.stdout and "tflite-int8" in train.stdout  # the check table is printed
    return run_dir


def _masks(folder: Path) -> dict[str, np.ndarray]:
    return {path.name: cv2.imread(str(path), cv2.IMREAD_UNCHANGED) for path in sorted((folder / "masks").iterdir())}


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


def test_predict_py_gives_the_run_folders_masks_with_each_float_export(exported_run, tiny_dataset, tmp_path):
    images = tiny_dataset / "images"
    export = exported_run / "export"
    outputs = {"run": exported_run, "saved_model": export, "onnx": export / "model.onnx", "tflite": export / "model.tflite",
               "int8": export / "model_int8.tflite"}
    done = _script("predict.py", outputs.pop("onnx"), images, "--out", tmp_path / "onnx")  # the command itself
    assert done.returncode == 0, done.stderr[-2000:]
    for out, model in outputs.items():  # the same entry point, in this process
        assert predict_main([str(model), str(images), "--out", str(tmp_path / out)]) == 0, out
    expected = _masks(tmp_path / "run")
    assert len(expected) == 24
    for out in ("saved_model", "onnx", "tflite"):
        masks = _masks(tmp_path / out)
        assert masks.keys() == expected.keys()
        for name, mask in masks.items():
            assert (mask == expected[name]).all(), f"{out}: {name}"
    int8 = _masks(tmp_path / "int8")
    agreement = np.mean([np.mean(int8[name] == mask) for name, mask in expected.items()])
    assert agreement > 0.98  # quantised: nearly the same pixels


def test_export_py_adds_formats_fixes_the_batch_and_puts_the_threshold_in_the_card(exported_run, tiny_dataset, tmp_path):
    done = _script("export.py", exported_run, "--format", "onnx", "--batch", 2, "--threshold", 0.3)
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((exported_run / "export" / "model_card.json").read_text())
    assert card["threshold"] == 0.3 and card["threshold_choice"] == "fixed"
    assert card["onnx"]["input"]["shape"] == [2, 32, 32, 1]
    assert "tflite-int8" in card["files"]  # earlier formats are written again
    images = tiny_dataset / "images"
    for out, model, extra in (("card", exported_run / "export" / "model.onnx", []),
                              ("given", exported_run, ["--threshold", "0.3"]),
                              ("default", exported_run, ["--threshold", "0.5"])):
        assert predict_main([str(model), str(images), "--out", str(tmp_path / out), *extra]) == 0, out
    card_masks, given, default = (_masks(tmp_path / out) for out in ("card", "given", "default"))
    assert all((card_masks[name] == given[name]).all() for name in given)  # predict.py used the card's 0.3
    assert any((given[name] != default[name]).any() for name in given)  # and 0.3 is not 0.5 here
    assert export_main([str(exported_run), "--threshold", "auto"]) == 0
    card = json.loads((exported_run / "export" / "model_card.json").read_text())
    assert card["threshold_choice"].startswith("auto: highest mean Dice on the val split")


@pytest.mark.parametrize("args, message", [
    (["--format", "pdf"], "invalid choice: 'pdf'"),
    (["--batch", "-1"], "--batch -1: expected 0 (dynamic) or a positive batch size"),
    (["--threshold", "1.5"], "--threshold 1.5: expected a number in (0, 1)"),
    (["--format", "bioimageio", "--batch", "2"], "train.export_batch: a bioimage.io package (train.export: bioimageio) "
                                                 "takes a model.onnx of any batch (0) or of 1, got 2"),
])
def test_export_py_refuses_bad_options_in_one_line(exported_run, args, message, capsys):
    before = (exported_run / "export" / "model_card.json").read_text()
    with pytest.raises(SystemExit) if "pdf" in args else contextlib.nullcontext():
        assert export_main([str(exported_run), *args]) == 2
    assert message in capsys.readouterr().err
    assert (exported_run / "export" / "model_card.json").read_text() == before  # nothing rewritten


def test_export_py_names_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert export_main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: not a run directory, expected config.yaml written by train.py\n"


def test_export_py_writes_a_bioimageio_package_that_passes_its_own_test(exported_run, tmp_path, monkeypatch):
    core = pytest.importorskip("bioimageio.core", reason="bioimageio.core is not installed (pip install -e '.[bioimageio]')")
    done = _script("export.py", exported_run, "--format", "bioimageio", "--license", "CC-BY-4.0", "--author", "A. Radiologist")
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((exported_run / "export" / "model_card.json").read_text())
    assert card["files"]["bioimageio"] == "bioimageio.zip" and "tflite-int8" in card["files"]
    assert card["bioimageio"]["weights"] == ["tensorflow_saved_model_bundle", "onnx"]
    assert not (ROOT / "bioimageio_unzipped_tf_weights").exists()  # export.py left nothing in the working folder
    monkeypatch.chdir(tmp_path)  # bioimageio.core unzips the SavedModel weights into the working folder
    summary = core.test_model(exported_run / "export" / "bioimageio.zip")  # run again here, not only at export
    assert summary.status == "passed", [detail.name for detail in summary.details if detail.status != "passed"]
    rdf = zipfile.ZipFile(exported_run / "export" / "bioimageio.zip").read("rdf.yaml").decode()
    assert "CC-BY-4.0" in rdf and "A. Radiologist" in rdf
