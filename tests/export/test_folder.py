"""The export folder: the registry of formats, and what export_model refuses."""

import pytest

from tfseg import models
from tfseg.config import EXPORT_FORMATS
from tfseg.errors import TfsegError
from tfseg.export.folder import FORMATS, export_model


def test_the_registry_holds_every_value_of_train_export_in_its_order():
    assert tuple(FORMATS) == EXPORT_FORMATS
    files = [spec.file for spec in FORMATS.values()]
    assert len(set(files)) == len(files)
    assert all(need in FORMATS for spec in FORMATS.values() for need in spec.needs)


def test_an_unknown_format_is_refused_before_anything_is_written(tmp_path):
    model = models.build("unet", (32, 32, 1), 1, depth=2, base_filters=4)
    with pytest.raises(TfsegError, match="export format 'pdf': expected one of tflite, "):
        export_model(model, tmp_path / "export", {}, ["pdf"])
    assert not (tmp_path / "export").exists()
