"""Helpers shared by the tests of tfseg.data."""

import shutil



def _copy(dataset, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(dataset, target)
    return target
