"""Inference: sliding window, flip TTA, post-processing, DICOM reading, predict.py."""

import cv2
import keras
import numpy as np
import pandas as pd
import pytest

from tfseg.cli import predict_main
from tfseg.dicom import read_dicom
from tfseg.errors import TfsegError
from tfseg.inference import (
    gaussian_importance,
    keep_largest_component,
    predict,
    probabilities_to_labels,
    window_starts,
)
from tfseg.prediction import predict_paths
from tfseg.run import load_model_file


def conv_models(window=(32, 32), channels=1, classes=1, seed=0):
    """The same two-layer fully convolutional net on a fixed window and on any size."""
    keras.utils.set_random_seed(seed)
    layers = [
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(classes, 3, padding="same", activation="sigmoid" if classes == 1 else "softmax"),
    ]
    any_size = keras.Input((None, None, channels))
    fixed = keras.Input((*window, channels))
    outputs_any, outputs_fixed = any_size, fixed
    for layer in layers:
        outputs_any, outputs_fixed = layer(outputs_any), layer(outputs_fixed)
    return keras.Model(fixed, outputs_fixed), keras.Model(any_size, outputs_any)


@pytest.mark.parametrize("length, window, overlap", [(100, 32, 0.5), (32, 32, 0.5), (75, 32, 0.25), (33, 32, 0.0)])
def test_window_starts_cover_every_pixel_with_the_overlap(length, window, overlap):
    starts = window_starts(length, window, overlap)
    covered = np.zeros(length, bool)
    for start in starts:
        covered[start : start + window] = True
    assert covered.all() and starts[0] == 0 and starts[-1] + window == length
    assert all(b - a <= window * (1 - overlap) for a, b in zip(starts, starts[1:]))


def test_gaussian_importance_peaks_at_the_centre_and_is_never_zero():
    weight = gaussian_importance((32, 24))
    assert weight.shape == (32, 24) and weight[16, 12] == 1.0 and weight.min() > 0
    assert weight[0, 0] < 1e-3 and weight[16, 0] < weight[16, 6] < weight[16, 11]


def test_sliding_window_equals_whole_image_prediction_and_covers_every_pixel():
    window_model, any_size_model = conv_models()
    image = np.random.default_rng(1).integers(0, 256, (100, 75, 1), dtype=np.uint8)
    whole = any_size_model.predict_on_batch(image[None].astype("float32") / 255)[0]
    (tiled,) = predict(window_model, [image], batch_size=4, sliding_window=True, overlap=0.5)
    assert tiled.shape == (100, 75, 1) and np.isfinite(tiled).all()
    # Window borders (2 px of zero padding) get little Gaussian weight: tiny error everywhere.
    np.testing.assert_allclose(tiled[4:-4, 4:-4], whole[4:-4, 4:-4], atol=2e-3)
    # Resizing the whole image to 32×32 instead is a different prediction.
    (resized,) = predict(window_model, [image])
    assert np.abs(resized - whole).max() > 0.01


def test_sliding_window_pads_small_images_and_applies_the_scale():
    window_model, any_size_model = conv_models()
    small = np.random.default_rng(2).integers(0, 256, (20, 27, 1), dtype=np.uint8)
    (tiled,) = predict(window_model, [small], sliding_window=True)
    assert tiled.shape == (20, 27, 1)
    whole = any_size_model.predict_on_batch(small[None].astype("float32") / 255)[0]
    np.testing.assert_allclose(tiled[:-2, :-2], whole[:-2, :-2], atol=1e-5)  # zero padding = conv padding
    large = cv2.resize(small, (108, 80), interpolation=cv2.INTER_NEAREST)[..., None]
    (scaled,) = predict(window_model, [large], sliding_window=True, scale=0.25)
    assert scaled.shape == (80, 108, 1)
    back = cv2.resize(tiled, (108, 80), interpolation=cv2.INTER_LINEAR)
    assert np.abs(scaled[..., 0] - back).mean() < 0.05
    # "fit": one window holding the whole image, i.e. exactly the resize geometry
    (fitted,) = predict(window_model, [large], sliding_window=True, scale="fit")
    np.testing.assert_allclose(fitted, predict(window_model, [large])[0], atol=1e-6)


def test_flip_tta_equals_plain_prediction_for_a_flip_equivariant_model():
    model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")])
    symmetric = np.array([[1.0, -2.0, 1.0], [3.0, 0.5, 3.0], [1.0, -2.0, 1.0]])  # mirror-symmetric both ways
    model.layers[0].set_weights([symmetric.reshape(3, 3, 1, 1).astype("float32"), np.zeros(1, "float32")])
    images = list(np.random.default_rng(3).integers(0, 256, (3, 40, 36, 1), dtype=np.uint8))
    plain = predict(model, images)
    for tta in ("flip", "flip-all"):
        for a, b in zip(plain, predict(model, images, tta=tta)):
            np.testing.assert_allclose(a, b, atol=1e-6)
    # A kernel that is not mirror-symmetric: TTA is the mean of the flipped-back predictions.
    model.layers[0].set_weights([np.arange(9, dtype="float32").reshape(3, 3, 1, 1) - 4, np.zeros(1, "float32")])
    batch = images[0][None, :32, :32].astype("float32") / 255
    expected = (model.predict_on_batch(batch) + model.predict_on_batch(batch[:, :, ::-1])[:, :, ::-1]) / 2
    (tta,) = predict(model, [images[0][:32, :32]], tta="flip")
    np.testing.assert_allclose(tta, expected[0], atol=1e-6)
    assert np.abs(tta - predict(model, [images[0][:32, :32]])[0]).max() > 1e-3


def test_bad_inference_options_raise():
    model, _ = conv_models()
    with pytest.raises(TfsegError, match="--tta 'mirror': expected one of none, flip, flip-all"):
        predict(model, [np.zeros((8, 8, 1), np.uint8)], tta="mirror")
    with pytest.raises(TfsegError, match="--overlap 1.0"):
        predict(model, [np.zeros((8, 8, 1), np.uint8)], sliding_window=True, overlap=1.0)


def test_labels_and_largest_component():
    probabilities = np.array([[[0.2], [0.7]], [[0.5], [0.9]]])
    assert probabilities_to_labels(probabilities, 0.6).tolist() == [[0, 1], [0, 1]]
    labels = np.zeros((6, 6), np.uint8)
    labels[0:2, 0:2] = 1  # small
    labels[3:6, 3:6] = 1  # largest of class 1
    labels[0, 5] = 2  # the only component of class 2
    kept = keep_largest_component(labels)
    assert kept[0:2, 0:2].sum() == 0 and (kept[3:6, 3:6] == 1).all() and kept[0, 5] == 2


def write_dicom(path, pixels, photometric, spacing=None, window=None):
    """A single-frame 12-bit greyscale DICOM written with pydicom."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    dataset = pydicom.Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID = generate_uid()
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.set_pixel_data(pixels.astype(np.uint16), photometric, 12)
    if spacing:
        dataset.PixelSpacing = list(spacing)
    if window:
        dataset.WindowCenter, dataset.WindowWidth = window
    dataset.save_as(path, enforce_file_format=True)
    return path


def test_dicom_monochrome1_is_inverted_and_windowed(tmp_path):
    ramp = np.tile(np.linspace(0, 4000, 16), (8, 1)).round()
    mono2, spacing2 = read_dicom(write_dicom(tmp_path / "a.dcm", ramp, "MONOCHROME2", spacing=(0.5, 0.25)))
    mono1, spacing1 = read_dicom(write_dicom(tmp_path / "b.dcm", ramp, "MONOCHROME1"))
    assert mono2.shape == (8, 16, 1) and mono2.dtype == np.uint16
    assert spacing2 == (0.5, 0.25) and spacing1 is None
    assert mono2[0, 0, 0] == 0 and mono2[0, -1, 0] == 65535  # low value dark in MONOCHROME2
    assert mono1[0, 0, 0] == 65535 and mono1[0, -1, 0] == 0  # low value bright in MONOCHROME1
    windowed, _ = read_dicom(write_dicom(tmp_path / "c.dcm", ramp, "MONOCHROME2", window=(2000, 1000)))
    assert windowed[0, ramp[0] <= 1400, 0].max() == 0 and windowed[0, ramp[0] >= 2600, 0].min() == 65535
    assert 0 < windowed[0, 8, 0] < 65535


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny binary model saved as .keras and exported as a SavedModel."""
    folder = tmp_path_factory.mktemp("model")
    model, _ = conv_models(window=(32, 32))
    model.save(folder / "model.keras")
    model.export(str(folder / "export"), verbose=False)
    return folder


def test_predict_cli_restores_sizes_and_reports_areas(saved_model, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(4)
    cv2.imwrite(str(inputs / "wide.png"), rng.integers(0, 256, (50, 70), dtype=np.uint8))
    cv2.imwrite(str(inputs / "rgb.jpg"), rng.integers(0, 256, (33, 41, 3), dtype=np.uint8))
    write_dicom(inputs / "scan.dcm", rng.integers(0, 4000, (40, 30)), "MONOCHROME1", spacing=(0.5, 0.2))
    out = tmp_path / "out"
    code = predict_main([str(saved_model / "model.keras"), str(inputs), "--out", str(out), "--overlays", "--threshold", "0.45"])
    assert code == 0
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


def test_saved_model_export_predicts_like_the_keras_file(saved_model, tmp_path):
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.random.default_rng(5).integers(0, 256, (64, 48), dtype=np.uint8))
    from_keras = predict_paths(saved_model / "model.keras", [image], tmp_path / "k", sliding_window=True, progress=False)
    from_export = predict_paths(saved_model / "export", [image], tmp_path / "e", sliding_window=True, progress=False)
    assert from_keras["foreground_pixels"].tolist() == from_export["foreground_pixels"].tolist()
    keras_mask = cv2.imread(str(tmp_path / "k" / "masks" / "x.png"), cv2.IMREAD_UNCHANGED)
    export_mask = cv2.imread(str(tmp_path / "e" / "masks" / "x.png"), cv2.IMREAD_UNCHANGED)
    assert keras_mask.shape == (64, 48) and (keras_mask == export_mask).all()
    exported = load_model_file(saved_model / "export")
    assert exported.input_shape == (None, 32, 32, 1)


def test_predict_cli_errors_name_the_input(saved_model, tmp_path, capsys):
    assert predict_main([str(saved_model / "model.keras"), str(tmp_path / "missing.png"), "--out", str(tmp_path)]) == 2
    assert "missing.png: no such file or folder" in capsys.readouterr().err
    assert predict_main([str(tmp_path / "nope.keras"), str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "nope.keras: does not exist" in capsys.readouterr().err
    assert predict_main([str(saved_model / "model.keras"), str(tmp_path), "--out", str(tmp_path), "--scale", "1", "2", "3"]) == 2
    assert "--scale 1.0 2.0 3.0: expected one or two positive factors (SY SX) or 'fit'" in capsys.readouterr().err
