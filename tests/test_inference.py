"""Inference: sliding window, flip TTA, post-processing."""

import cv2
import keras
import numpy as np
import pytest

from tests.conftest import conv_models
from tfseg.errors import TfsegError
from tfseg.inference import (
    gaussian_importance,
    predict,
    probabilities_to_labels,
    window_starts,
)


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


def test_probabilities_to_labels():
    probabilities = np.array([[[0.2], [0.7]], [[0.5], [0.9]]])
    assert probabilities_to_labels(probabilities, 0.6).tolist() == [[0, 1], [0, 1]]
