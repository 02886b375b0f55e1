"""export.py: adding formats, fixing the ONNX batch, the threshold, bad options, the bioimage.io package."""

import contextlib
import json
import shutil
import zipfile

import numpy as np
import pytest

from tests.export.conftest import ROOT, read_masks, run_command
from tfseg.cli import export_main, predict_main

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[onnx]')")


@pytest.fixture(scope="module")
def exported_copy(exported_run, tmp_path_factory):
    """A copy of the shared run for the tests that export it again (they change its export)."""
    return shutil.copytree(exported_run, tmp_path_factory.mktemp("reexported") / "run")


@pytest.mark.slow
def test_export_py_adds_formats_fixes_the_batch_and_puts_the_threshold_in_the_card(exported_copy, tiny_dataset, tmp_path):
    done = run_command("export.py", exported_copy, "--format", "onnx", "--export-batch", 2, "--threshold", 0.3)
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((exported_copy / "export" / "model_card.json").read_text())
    assert card["threshold"] == 0.3 and card["threshold_choice"] == "fixed"
    assert card["onnx"]["input"]["shape"] == [2, 32, 32, 1]
    assert "tflite-int8" in card["files"]  # earlier formats are written again
    images = tiny_dataset / "images"
    for out, model, extra in (("card", exported_copy / "export" / "model.onnx", []),
                              ("given", exported_copy, ["--threshold", "0.3"]),
                              ("default", exported_copy, ["--threshold", "0.5"])):
        assert predict_main([str(model), str(images), "--out", str(tmp_path / out), *extra]) == 0, out
    card_masks, given, default = (read_masks(tmp_path / out) for out in ("card", "given", "default"))
    assert all((card_masks[name] == given[name]).all() for name in given)  # predict.py used the card's 0.3
    assert any((given[name] != default[name]).any() for name in given)  # and 0.3 is not 0.5 here
    assert export_main([str(exported_copy), "--threshold", "auto"]) == 0
    card = json.loads((exported_copy / "export" / "model_card.json").read_text())
    assert card["threshold_choice"].startswith("auto: highest mean Dice on the val split")


@pytest.mark.parametrize("args, message", [
    (["--format", "pdf"], "invalid choice: 'pdf'"),
    (["--export-batch", "-1"], "--export-batch -1: expected 0 (dynamic) or a positive batch size"),
    (["--threshold", "1.5"], "--threshold 1.5: expected a number in (0, 1)"),
    (["--format", "bioimageio", "--export-batch", "2"], "train.export_batch: a bioimage.io package (train.export: bioimageio) "
                                                 "takes a model.onnx of any batch (0) or of 1, got 2"),
])
def test_export_py_refuses_bad_options_in_one_line(exported_copy, args, message, capsys):
    before = (exported_copy / "export" / "model_card.json").read_text()
    with pytest.raises(SystemExit) if "pdf" in args else contextlib.nullcontext():
        assert export_main([str(exported_copy), *args]) == 2
    assert message in capsys.readouterr().err
    assert (exported_copy / "export" / "model_card.json").read_text() == before  # nothing rewritten


def test_export_py_names_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert export_main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: not a run directory, expected config.yaml written by train.py\n"


@pytest.mark.slow
def test_export_py_writes_a_bioimageio_package_that_passes_its_own_test(exported_copy, tmp_path, monkeypatch):
    core = pytest.importorskip("bioimageio.core", reason="bioimageio.core is not installed (pip install -e '.[bioimageio]')")
    done = run_command("export.py", exported_copy, "--format", "bioimageio", "--license", "CC-BY-4.0", "--author", "A. Radiologist")
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((exported_copy / "export" / "model_card.json").read_text())
    assert card["files"]["bioimageio"] == "bioimageio.zip" and "tflite-int8" in card["files"]
    assert card["bioimageio"]["weights"] == ["tensorflow_saved_model_bundle", "onnx"]
    assert not (ROOT / "bioimageio_unzipped_tf_weights").exists()  # export.py left nothing in the working folder
    monkeypatch.chdir(tmp_path)  # bioimageio.core unzips the SavedModel weights into the working folder
    summary = core.test_model(exported_copy / "export" / "bioimageio.zip")  # run again here, not only at export
    assert summary.status == "passed", [detail.name for detail in summary.details if detail.status != "passed"]
    rdf = zipfile.ZipFile(exported_copy / "export" / "bioimageio.zip").read("rdf.yaml").decode()
    assert "CC-BY-4.0" in rdf and "A. Radiologist" in rdf
