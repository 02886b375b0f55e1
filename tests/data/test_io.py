"""Reading images and masks: formats and channel conversion."""

import cv2
import numpy as np

from tfseg.data import read_image


def test_formats_and_channel_conversion(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    for suffix in (".png", ".jpg", ".bmp", ".tif"):
        path = tmp_path / f"a{suffix}"
        cv2.imwrite(str(path), rgb)
        assert read_image(path, 3).shape == (20, 30, 3)
        assert read_image(path, 1).shape == (20, 30, 1)
    rgba = np.dstack([rgb, np.full((20, 30), 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png", 3), rgb[..., ::-1])  # BGR on disk → RGB


def test_to_display_keeps_scaled_inputs_and_stretches_z_scored_ones():
    from tfseg.data.io import to_display

    scaled = np.random.default_rng(0).random((2, 4, 4, 1), dtype=np.float32)
    np.testing.assert_array_equal(to_display(scaled), scaled)
    zscored = np.stack([np.linspace(-2, 3, 16).reshape(4, 4, 1), np.linspace(-1, 1, 16).reshape(4, 4, 1)])
    shown = to_display(zscored)
    assert shown.min(axis=(1, 2, 3)).tolist() == [0, 0] and shown.max(axis=(1, 2, 3)).tolist() == [1, 1]  # each image
