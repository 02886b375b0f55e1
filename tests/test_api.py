"""The Python API (tfseg/api.py): smp-style constructors, tfseg.train, tfseg.evaluate,
tfseg.predict and Run, loaded on first use; docs/python-api.md runs as written."""

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import tfseg
from tfseg import api, models
from tfseg.cli.predict import main as predict_main
from tfseg.data import read_image
from tfseg.errors import TfsegError
from tests.test_docs import code_blocks

ROOT = Path(__file__).resolve().parents[1]
SMALL = {name: models.entry(name).architecture.small for name in models.entries() if models.entry(name).encoder is None}


def test_import_tfseg_loads_tensorflow_only_when_a_name_is_used():
    code = "import sys, tfseg; dir(tfseg); hasattr(tfseg, 'nothing'); print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.strip() == "False"
    assert set(tfseg._API) == set(api.__all__) and {"Unet", "train", "data"} <= set(dir(tfseg))
    assert tfseg.Unet is api.Unet and tfseg.predict is api.predict and tfseg.data.datasets


def test_every_architecture_family_has_a_constructor():
    architectures = models.architectures()
    assert set(api.CONSTRUCTORS.values()) <= {architecture.name for architecture in architectures}
    assert {architecture.family for architecture in architectures} == {
        architecture.family for architecture in architectures if architecture.name in api.CONSTRUCTORS.values()
    }
    for architecture in architectures:
        if "smp" in architecture.peers:
            assert api.CONSTRUCTORS[architecture.peers["smp"]] == architecture.name


@pytest.mark.slow
@pytest.mark.parametrize("constructor", [name for name in api.CONSTRUCTORS if name != "SegNet"])
def test_each_constructor_builds_its_decoder_on_an_smp_encoder_name(constructor):
    architecture = api.CONSTRUCTORS[constructor]
    small = models.entry(f"{architecture}_mobilenetv2").architecture.small
    model = getattr(tfseg, constructor)(
        encoder="mobilenet_v2", encoder_weights=None, in_channels=1, classes=3, input_shape=(32, 32), **small
    )
    assert isinstance(model, keras.Model) and model.name == f"{architecture}_mobilenetv2"
    assert model.input_shape == (None, 32, 32, 1) and model.output_shape == (None, 32, 32, 3)
    output = keras.ops.convert_to_numpy(model(np.random.default_rng(0).random((2, 32, 32, 1), np.float32)))
    np.testing.assert_allclose(output.sum(-1), 1, rtol=1e-4)  # softmax: activation "auto" for 3 classes
    keras.utils.clear_session()


@pytest.mark.parametrize("constructor, name, encoder", [
    ("Unet", "unet", None), ("UnetPlusPlus", "unetpp", None), ("Linknet", "linknet", None), ("SegNet", "segnet", None),
    ("SegNet", "segnet_vgg16", "vgg16"),
])
def test_constructors_build_the_own_encoder_variants(constructor, name, encoder):
    model = getattr(tfseg, constructor)(encoder=encoder, input_shape=(32, 32, 3), **SMALL[name])
    assert model.name == name and model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 32, 32, 1)
    assert (models.get_encoder(model) is not None) == (encoder is not None)
    keras.utils.clear_session()


def test_constructor_errors_name_what_to_give():
    with pytest.raises(TfsegError, match="unknown encoder 'resnet35'; did you mean resnet34, resnet50 or resnet50v2?"):
        tfseg.Unet(encoder="resnet35")
    with pytest.raises(TfsegError, match="FPN: encoder=None: fpn has no variant with its own encoder; name a pretrained"):
        tfseg.FPN(encoder=None)
    with pytest.raises(TfsegError, match="Unet: encoder_weights='imagenet' needs an encoder, got encoder=None"):
        tfseg.Unet(encoder=None, encoder_weights="imagenet")
    with pytest.raises(TfsegError, match=r"Unet: input_shape \(64, 64, 3\): expected \(height, width\), or "
                                         r"\(height, width, 1\) with in_channels=1"):
        tfseg.Unet(in_channels=1, input_shape=(64, 64, 3))
    with pytest.raises(TfsegError, match="model 'unet': .*unexpected keyword argument 'encoder_name'"):
        tfseg.Unet(encoder=None, encoder_name="resnet34")


@pytest.fixture(scope="module")
def api_run(tiny_dataset, tmp_path_factory):
    """A one-epoch tiny U-Net trained by `tfseg.train` on the tiny dataset."""
    run_dir = tmp_path_factory.mktemp("api") / "run"
    return tfseg.train(tiny_dataset, model="unet", model_options={"depth": 2, "base_filters": 4}, image_size=[32, 32],
                       epochs=1, batch_size=4, augment="none", tensorboard_images=0, run_dir=str(run_dir))


@pytest.mark.slow
def test_train_returns_the_run(api_run):
    assert isinstance(api_run, tfseg.Run) and api_run.files.best.is_file() and (api_run.files.export / "saved_model.pb").is_file()
    assert list(api_run.history["epoch"]) == [1]
    best = api_run.best_scores
    assert best["epoch"] == 1 and 0 <= best["val_iou"] <= 1 and best == tfseg.Run(str(api_run.path)).best_scores
    assert api_run.config.model.options == {"depth": 2, "base_filters": 4} and api_run.config.train.epochs == 1
    model = api_run.load_model()
    assert isinstance(model, keras.Model) and model.input_shape == (None, 32, 32, 1)


@pytest.mark.slow
def test_a_run_reads_its_history_numbered_from_1_as_training_does(binary_run, tmp_path):
    """A history written before epochs counted from 1 (its first row epoch 0) reads as training reads it."""
    old = tmp_path / "old-run"
    old.mkdir()
    (old / "config.yaml").write_bytes((binary_run / "config.yaml").read_bytes())
    history = pd.DataFrame({"epoch": [0, 1], "loss": [0.9, 0.7], "val_iou": [0.5, 0.4]})
    history.to_csv(old / "history.csv", index=False)
    run = tfseg.Run(old)
    assert list(run.history["epoch"]) == [1, 2] and run.best_scores["epoch"] == 1
    (old / "history.csv").write_text("")  # killed before its first epoch
    assert run.best_scores == {}


def test_evaluate_returns_per_image_scores_and_writes_the_report(api_run, tiny_dataset):
    scores = tfseg.evaluate(api_run)
    test_ids = pd.read_csv(tiny_dataset / "splits.csv").query("split == 'test'")["id"]
    assert isinstance(scores, pd.DataFrame) and sorted(scores["id"]) == sorted(test_ids)
    assert {"dice", "iou", "hd95"} <= set(scores.columns) and scores["dice"].between(0, 1).all()
    summary = scores.attrs["summary"]
    assert summary["split"] == "test" and summary["images"] == len(scores) == 4
    assert summary["scores"]["dice"]["mean"] == pytest.approx(scores["dice"].mean(), abs=1e-6)
    assert (api_run.files.eval_dir("test") / "report.md").is_file()
    val = tfseg.evaluate(str(api_run.path), split="val", tta="flip", out_dir=api_run.path / "val-flip")
    assert val.attrs["summary"]["tta"] == "flip" and (api_run.path / "val-flip" / "per_image.csv").is_file()


@pytest.mark.slow
def test_predict_returns_masks_the_size_of_each_image(api_run, tiny_dataset, tmp_path):
    folder = tiny_dataset / "images"
    masks = tfseg.predict(api_run, folder)
    assert len(masks) == 24 and all(mask.shape == (64, 64) and mask.dtype == np.uint8 for mask in masks)
    assert set(np.unique(np.stack(masks))) <= {0, 1}
    assert predict_main([str(api_run.path), str(folder), "--out", str(tmp_path / "cli")]) == 0  # the same as the CLI's
    for path, mask in zip(sorted(folder.iterdir()), masks):
        np.testing.assert_array_equal(read_image(tmp_path / "cli" / "masks" / path.name, 1)[..., 0], mask * 255)
    image = read_image(sorted(folder.iterdir())[0], 1)[:40, :56]
    model = api_run.load_model()
    single = tfseg.predict(api_run, image)
    assert single.shape == (40, 56)
    np.testing.assert_array_equal(tfseg.predict(model, image[..., 0]), single)  # in memory, and (H, W) images
    batch = np.random.default_rng(0).random((3, 48, 48, 1), np.float32)  # floats in [0, 1]
    assert tfseg.predict(model, batch).shape == (3, 48, 48)
    assert [mask.shape for mask in tfseg.predict(model, [image, batch[0]])] == [(40, 56), (48, 48)]
    with pytest.raises(TfsegError, match=r"images: an image of shape \(40, 56, 3\); the model takes \(H, W, 1\)"):
        tfseg.predict(model, np.repeat(image, 3, axis=-1))


@pytest.mark.slow
def test_python_api_page_runs(tmp_path, monkeypatch):
    """docs/python-api.md's Python blocks, in order, in one namespace, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for line, _, code in code_blocks(ROOT / "docs" / "python-api.md", "python"):
        exec(compile(code, f"docs/python-api.md:{line}", "exec"), namespace)
    assert isinstance(namespace["run"], tfseg.Run) and (tmp_path / "runs" / "demo" / "best.keras").is_file()
    assert isinstance(namespace["scores"], pd.DataFrame) and len(namespace["masks"]) == 48
