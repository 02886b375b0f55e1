"""DICOM reading: MONOCHROME1 inversion, windowing, pixel spacing."""

import numpy as np

from tests.conftest import write_dicom
from tfseg.dicom import read_dicom


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
