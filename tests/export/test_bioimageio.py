"""bioimage.io model packages, checked by bioimage.io's own library (bioimageio.core)."""

import subprocess
import sys
import zipfile

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from tfseg import models
from tfseg.export.bioimageio import PAPERS, write_bioimageio_package
from tfseg.config import Config
from tfseg.distribution import float32_layers
from tfseg.errors import TfsegError
from tfseg.export.card import model_card
from tfseg.export.onnx import ONNX_OPSET, write_onnx
from tfseg.export.saved_model import write_saved_model

pytest.importorskip("bioimageio.core", reason='bioimageio.core is not installed (pip install -e ".[bioimageio]")')
import bioimageio.core  # noqa: E402
from bioimageio.spec import load_model_description  # noqa: E402
from bioimageio.spec.model import v0_5  # noqa: E402

REPRODUCE = "Reproduce test outputs from test inputs ({})"
WEIGHTS = ("onnx", "tensorflow_saved_model_bundle")
CASES = {"grey-binary": (1, 1, None), "rgb-3-classes": (3, 3, ["background", "liver", "liver tumour"])}


def tiny_model(channels: int, classes: int, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return models.final_head(float32_layers(models.build("unet", (32, 32, channels), classes, depth=2, base_filters=4)))


def sample_image(channels: int) -> np.ndarray:
    """A bright disc on a noisy background, uint8 (32, 32, channels)."""
    noise = np.random.default_rng(1).integers(0, 60, (32, 32, channels))
    disc = cv2.circle(np.zeros((32, 32), np.uint8), (15, 17), 9, 180, -1)[..., None]
    return (noise + disc).astype(np.uint8)


def export(model: keras.Model, folder, channels: int, classes: int, class_names) -> dict:
    """Writes the SavedModel and model.onnx into `folder` as an export does; returns the model card."""
    write_saved_model(model, folder)
    config = Config()
    config.data.image_size, config.data.channels, config.data.classes = [32, 32], channels, classes
    card = {**model_card(config, "val_iou", 0.61, 3), "onnx": write_onnx(model, folder / "model.onnx")}
    if class_names is None:  # a card without class names (older runs): the package names the foreground
        return {key: value for key, value in card.items() if key != "class_names"}
    return {**card, "class_names": class_names}


@pytest.fixture(scope="module", params=list(CASES))
def package(request, tmp_path_factory):
    """(model, card, image, zip path, returned info) of a written package."""
    channels, classes, class_names = CASES[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    model = tiny_model(channels, classes)
    card = export(model, folder, channels, classes, class_names)
    image = sample_image(channels)
    path = folder / "bioimageio.zip"
    info = write_bioimageio_package(model, folder, card, image, path)
    return model, card, image, path, info


def test_the_package_passes_bioimageio_core_with_both_weight_formats(package, tmp_path, monkeypatch):
    _, _, _, path, info = package
    assert info == {"file": "bioimageio.zip", "format_version": v0_5.ModelDescr.implemented_format_version,
                    "weights": ["tensorflow_saved_model_bundle", "onnx"], "spec": bioimageio.spec.__version__,
                    "validated_with": f"bioimageio.core {bioimageio.core.__version__}"}
    monkeypatch.chdir(tmp_path)  # bioimageio.core unzips the SavedModel into ./bioimageio_unzipped_tf_weights
    summary = bioimageio.core.test_model(path)
    status = {detail.name: detail.status for detail in summary.details}
    assert summary.status == "passed", summary.format()
    for weights in WEIGHTS:  # each format ran the test input and matched the test output
        assert status[REPRODUCE.format(weights)] == "passed"
        assert status[f"Run {weights} inference for inputs with batch_size: 2 and size parameter n: 0"] == "passed"


@pytest.mark.parametrize("package", ["grey-binary"], indirect=True)
def test_the_bioimageio_command_passes_the_package(package, tmp_path):
    """`bioimageio test RUN/export/bioimageio.zip`, as docs/bioimageio.md gives it (exit status 0: passed)."""
    done = subprocess.run([sys.executable, "-m", "bioimageio.core", "test", str(package[3])], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_the_test_tensors_are_the_raw_image_and_the_keras_probabilities(package):
    model, card, image, path, _ = package
    description = load_model_description(path)
    (test_input,), (test_output,) = description.get_input_test_arrays(), description.get_output_test_arrays()
    np.testing.assert_array_equal(test_input, image[None].astype(np.float32))  # raw 0-255, not scaled
    np.testing.assert_allclose(test_output, model.predict_on_batch(image[None] / 255.0), atol=1e-6)
    (scale,) = [step for step in description.inputs[0].preprocessing if step.id == "scale_linear"]
    assert scale.kwargs.gain == pytest.approx(1 / 255) and scale.kwargs.offset == 0
    assert [axis.id for axis in description.inputs[0].axes] == ["batch", "y", "x", "channel"]
    assert description.inputs[0].shape[1:3] == description.outputs[0].shape[1:3] == (32, 32)
    channels = description.outputs[0].axes[-1].channel_names
    assert channels == (["foreground"] if card["classes"] == 1 else card["class_names"])
    assert description.weights.onnx.opset_version == ONNX_OPSET
    assert description.weights.onnx.parent == "tensorflow_saved_model_bundle"
    assert str(description.weights.tensorflow_saved_model_bundle.tensorflow_version) == tf.__version__
    assert [str(entry.doi) for entry in description.cite] == [PAPERS["U-Net"][1]]
    assert description.license == "MIT" and [author.name for author in description.authors] == ["tfseg user"]


def test_the_zip_holds_both_weights_test_tensors_cover_and_readme(package, tmp_path):
    model, card, image, path, _ = package
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
        assert {"rdf.yaml", "model.onnx", "saved_model.zip", "test_input.npy", "test_output.npy", "cover.png",
                "README.md", "sample_input.png", "sample_output.tif"} <= names
        rdf = yaml.safe_load(bundle.read("rdf.yaml"))
        readme = bundle.read("README.md").decode()
        cover = cv2.imdecode(np.frombuffer(bundle.read("cover.png"), np.uint8), cv2.IMREAD_UNCHANGED)
        bundle.extract("saved_model.zip", tmp_path)
    assert rdf["type"] == "model" and set(rdf["weights"]) == set(WEIGHTS)
    assert cover.shape == (256, 512, 3)  # the image beside its labels over it
    assert "scale_linear" in readme and "val_iou 0.6100 at epoch 3" in readme and card["output"] in readme
    with zipfile.ZipFile(tmp_path / "saved_model.zip") as saved:
        saved.extractall(tmp_path / "saved_model")
    serve = tf.saved_model.load(str(tmp_path / "saved_model")).signatures["serving_default"]
    probabilities = serve(image=tf.constant(image[None] / 255.0, tf.float32))["probabilities"].numpy()
    np.testing.assert_allclose(probabilities, model.predict_on_batch(image[None] / 255.0), atol=1e-5)


def test_bioimageio_core_fails_a_package_whose_test_output_is_not_the_models(package, tmp_path, monkeypatch):
    """The library's test compares: the probabilities of the unscaled image (a package without its
    scale_linear step would give them) fail it in both weight formats."""
    model, _, image, path, _ = package
    wrong = model.predict_on_batch(image[None].astype(np.float32))
    assert np.abs(wrong - model.predict_on_batch(image[None] / 255.0)).max() > 0.01
    np.save(tmp_path / "wrong.npy", wrong)
    description = load_model_description(path)
    description.outputs[0].test_tensor = v0_5.FileDescr(source=tmp_path / "wrong.npy")
    monkeypatch.chdir(tmp_path)
    summary = bioimageio.core.test_model(description)
    failed = {detail.name for detail in summary.details if detail.status == "failed"}
    assert summary.status == "valid-format"  # a failed test downgrades "passed" to this
    assert failed == {REPRODUCE.format(weights) for weights in WEIGHTS}


@pytest.mark.slow
def test_a_package_that_fails_its_test_is_not_written(tmp_path):
    """The ONNX file of another model: the package fails bioimageio.core's test and `path` stays absent."""
    model = tiny_model(1, 1)
    card = export(model, tmp_path, 1, 1, None)
    write_onnx(tiny_model(1, 1, seed=1), tmp_path / "model.onnx")
    onnx_fails = r"fails bioimageio.core's test: \['Reproduce test outputs from test inputs \(onnx\)'\]"
    with pytest.raises(TfsegError, match=onnx_fails):
        write_bioimageio_package(model, tmp_path, card, sample_image(1), tmp_path / "bioimageio.zip")
    assert not [path for path in tmp_path.iterdir() if "bioimageio" in path.name]


def test_samples_and_batch_sizes_a_package_cannot_describe_are_refused(tmp_path):
    model, image = tiny_model(1, 1), sample_image(1)
    card = {"input": {"shape": [None, 32, 32, 1]}, "classes": 1, "onnx": {"input": {"shape": [None, 32, 32, 1]}}}
    # bioimageio.spec rejects all-zero test tensors; the package scales 8-bit images
    for wrong, message in ((np.zeros_like(image), "black sample image"), (image / 255.0, "must be 8-bit")):
        with pytest.raises(TfsegError, match=message):
            write_bioimageio_package(model, tmp_path, card, wrong, tmp_path / "bioimageio.zip")
    fixed = {**card, "onnx": {"input": {"shape": [4, 32, 32, 1]}}}  # bioimage.io batch axes: any size, or 1
    with pytest.raises(TfsegError, match="any batch size or of 1, not 4"):
        write_bioimageio_package(model, tmp_path, fixed, image, tmp_path / "bioimageio.zip")
    assert not list(tmp_path.iterdir())


def test_without_bioimageio_core_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "bioimageio.core", None)
    message = r'^bioimage.io export needs bioimageio.core: pip install "tfseg\[bioimageio\]"$'
    with pytest.raises(TfsegError, match=message):
        write_bioimageio_package(None, tmp_path, {}, np.zeros((32, 32, 1), np.uint8), tmp_path / "bioimageio.zip")


def test_every_registered_family_has_a_paper_to_cite():
    assert {architecture.family for architecture in models.architectures()} == set(PAPERS)
