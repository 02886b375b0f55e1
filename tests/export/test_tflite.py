"""The TFLite formats: converted from the SavedModel (float32, float16, int8), run by LiteRT."""

import numpy as np
import pytest

from tfseg import models
from tfseg.distribution import float32_layers
from tfseg.errors import TfsegError
from tfseg.export.saved_model import write_saved_model
from tfseg.export.tflite import TfliteModel, write_tflite


@pytest.mark.parametrize("name, options, classes", [
    ("unet", {"depth": 2, "base_filters": 4}, 1),
    ("unetpp", {"depth": 2, "base_filters": 4, "deep_supervision": True}, 3),
    ("segnet", {"base_filters": 4}, 3),
    ("unet_resnet18", {"encoder_weights": None}, 4),
])
@pytest.mark.slow
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
