"""Prediction (predict.py): files and folders to masks, overlays and areas.csv; SavedModel exports
and run directories as the model."""

import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.conftest import conv_models, write_dicom
from tfseg.cli import predict_main
from tfseg.errors import TfsegError
from tfseg.prediction import predict_paths
from tfseg.export.loading import load_model_file


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny binary model saved as .keras and exported as a SavedModel."""
    folder = tmp_path_factory.mktemp("model")
    model, _ = conv_models(window=(32, 32))
    model.save(folder / "model.keras")
    model.export(str(folder / "export"), verbose=False)
    return folder


def test_predict_cli_restores_sizes_and_reports_areas(saved_model, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(4)
    cv2.imwrite(str(inputs / "wide.png"), rng.integers(0, 256, (50, 70), dtype=np.uint8))
    cv2.imwrite(str(inputs / "rgb.jpg"), rng.integers(0, 256, (33, 41, 3), dtype=np.uint8))
    write_dicom(inputs / "scan.dcm", rng.integers(0, 4000, (40, 30)), "MONOCHROME1", spacing=(0.5, 0.2))
    out = tmp_path / "out"
    code = predict_main([str(saved_model / "model.keras"), str(inputs), "--out", str(out), "--overlays", "--threshold", "0.45"])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"tfseg: 3 images predicted: masks in {out / 'masks'}, overlays in {out / 'overlays'}, areas in {out / 'areas.csv'}")
    for name, size in (("wide", (50, 70)), ("rgb", (33, 41)), ("scan", (40, 30))):
        mask = cv2.imread(str(out / "masks" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == size and set(np.unique(mask)) <= {0, 255}
        assert cv2.imread(str(out / "overlays" / f"{name}.png")).shape == (*size, 3)
    areas = pd.read_csv(out / "areas.csv").set_index("image")
    scan = areas.loc[str(inputs / "scan.dcm")]
    scan_mask = cv2.imread(str(out / "masks" / "scan.png"), cv2.IMREAD_UNCHANGED)
    assert scan["foreground_pixels"] == np.count_nonzero(scan_mask)
    assert scan["foreground_mm2"] == pytest.approx(np.count_nonzero(scan_mask) * 0.1, abs=1e-3)
    assert np.isnan(areas.loc[str(inputs / "wide.png"), "foreground_mm2"])


def test_overlays_outline_the_prediction_and_name_the_card_classes(tmp_path, capsys):
    """A model that marks pixels brighter than 0.5, with a model card naming its class "lesion":
    the overlay outlines the predicted square and its legend names the class."""
    import keras

    from tfseg.plots import class_colour, outline_overlay
    from tfseg.prediction import read_input

    model = keras.Sequential([keras.Input((64, 80, 1)), keras.layers.Conv2D(1, 1, activation="sigmoid")])
    model.layers[0].set_weights([np.full((1, 1, 1, 1), 40.0, np.float32), np.array([-20.0], np.float32)])
    folder = tmp_path / "model"
    folder.mkdir()
    model.save(folder / "model.keras")
    (folder / "model_card.json").write_text(json.dumps({"class_names": ["background", "lesion"]}))
    image = np.full((64, 80), 40, np.uint8)
    image[20:50, 30:70] = 220
    cv2.imwrite(str(tmp_path / "scan.png"), image)
    assert predict_main([str(folder / "model.keras"), str(tmp_path / "scan.png"), "--out", str(tmp_path / "out"),
                         "--overlays"]) == 0
    mask = cv2.imread(str(tmp_path / "out" / "masks" / "scan.png"), cv2.IMREAD_UNCHANGED)
    assert (mask == np.where(image > 128, 255, 0)).all()
    overlay = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "overlays" / "scan.png")), cv2.COLOR_BGR2RGB)
    assert (overlay[20, 30:70] == class_colour(1)).all() and (overlay[20:50, 69] == class_colour(1)).all()
    assert (overlay[21:49, 31:69] == 220).all() and (overlay[55:, :] == 40).all()
    read = read_input(tmp_path / "scan.png", 1)[0]
    assert (overlay == outline_overlay(read, mask > 0, ["lesion"])).all()
    assert (overlay != outline_overlay(read, mask > 0, ["foreground"])).any()  # without the card's name


def test_legend_names_come_from_the_card_else_defaults():
    from tfseg.prediction import legend_names

    assert legend_names(None, 1) == ["foreground"] and legend_names(None, 3) == ["class 1", "class 2"]
    assert legend_names({"class_names": ["background", "lung", "heart"]}, 3) == ["lung", "heart"]
    assert legend_names({"class_names": ["background", "lung"]}, 3) == ["class 1", "class 2"]  # another model's card


def test_saved_model_export_predicts_like_the_keras_file(saved_model, tmp_path, capsys):
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.random.default_rng(5).integers(0, 256, (64, 48), dtype=np.uint8))
    from_keras = predict_paths(saved_model / "model.keras", [image], tmp_path / "k", sliding_window=True, progress=False)
    from_export = predict_paths(saved_model / "export", [image], tmp_path / "e", sliding_window=True, progress=False)
    assert predict_main([str(saved_model / "model.keras"), str(image), "--out", str(tmp_path / "b"), "--sliding-window",
                         "--precision", "auto"]) == 0  # bfloat16 convolutions on CPUs that have them
    b = tmp_path / "b"
    assert capsys.readouterr().out.splitlines()[-1] == f"tfseg: 1 image predicted: masks in {b / 'masks'}, areas in {b / 'areas.csv'}"
    bfloat16_mask = cv2.imread(str(tmp_path / "b" / "masks" / "x.png"), cv2.IMREAD_UNCHANGED)
    assert from_keras["foreground_pixels"].tolist() == from_export["foreground_pixels"].tolist()
    keras_mask = cv2.imread(str(tmp_path / "k" / "masks" / "x.png"), cv2.IMREAD_UNCHANGED)
    export_mask = cv2.imread(str(tmp_path / "e" / "masks" / "x.png"), cv2.IMREAD_UNCHANGED)
    assert keras_mask.shape == (64, 48) and (keras_mask == export_mask).all()
    assert np.mean(keras_mask != bfloat16_mask) < 0.02  # a few boundary pixels at most
    exported = load_model_file(saved_model / "export")
    assert exported.input_shape == (None, 32, 32, 1)


def test_predict_cli_errors_name_the_input(saved_model, tmp_path, capsys):
    assert predict_main([str(saved_model / "model.keras"), str(tmp_path / "missing.png"), "--out", str(tmp_path)]) == 2
    assert "missing.png: no such file or folder" in capsys.readouterr().err
    assert predict_main([str(tmp_path / "nope.keras"), str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "nope.keras: does not exist" in capsys.readouterr().err
    assert predict_main([str(saved_model / "model.keras"), str(tmp_path), "--out", str(tmp_path), "--scale", "1", "2", "3"]) == 2
    assert "--scale 1.0 2.0 3.0: expected one or two positive factors (SY SX) or 'fit'" in capsys.readouterr().err


def test_predict_with_a_run_directory_tiles_at_the_training_scale(binary_run, tiny_dataset, tmp_path):
    big = tmp_path / "big.png"
    image = cv2.imread(str(next((tiny_dataset / "images").iterdir())), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(big), cv2.resize(image, (160, 128)))
    predict_paths(binary_run, [big], tmp_path / "resize", progress=False)
    predict_paths(binary_run, [big], tmp_path / "tiled", sliding_window=True, progress=False)  # scale: fit
    native = predict_paths(binary_run, [big], tmp_path / "native", sliding_window=True, scale=1.0, progress=False)
    masks = [cv2.imread(str(tmp_path / name / "masks" / "big.png"), cv2.IMREAD_UNCHANGED) for name in ("resize", "tiled", "native")]
    assert all(mask.shape == (128, 160) for mask in masks)
    assert (masks[0] == masks[1]).all()  # the run was resize-trained: tiling matches its scale first
    assert native[["height", "width"]].values.tolist() == [[128, 160]]


def test_a_model_card_beside_a_model_file_gives_its_geometry_and_threshold(saved_model, tmp_path):
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.random.default_rng(6).integers(0, 256, (64, 48), dtype=np.uint8))
    model = saved_model / "model.keras"
    carded = tmp_path / "carded"
    carded.mkdir()
    shutil.copy(model, carded / "model.keras")
    card = {"geometry": {"mode": "sliding_window", "size": [32, 32], "overlap": 0.5}, "threshold": 0.3}
    (carded / "model_card.json").write_text(json.dumps(card))
    from_card = predict_paths(carded / "model.keras", [image], tmp_path / "card", progress=False)
    asked = predict_paths(model, [image], tmp_path / "asked", sliding_window=True, scale=1.0, threshold=0.3, progress=False)
    plain = predict_paths(model, [image], tmp_path / "plain", progress=False)  # no card: resize, 0.5
    masks = {name: cv2.imread(str(tmp_path / name / "masks" / "x.png"), cv2.IMREAD_UNCHANGED) for name in ("card", "asked", "plain")}
    assert (masks["card"] == masks["asked"]).all() and (masks["card"] != masks["plain"]).any()
    assert from_card["foreground_pixels"].tolist() == asked["foreground_pixels"].tolist()
    (carded / "model_card.json").write_text("{not json")
    with pytest.raises(TfsegError, match="model_card.json: not a model card, expected JSON"):
        predict_paths(carded / "model.keras", [image], tmp_path / "bad", progress=False)
