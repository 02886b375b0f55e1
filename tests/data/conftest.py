"""Helpers shared by the tests of tfseg.data."""

import shutil

import pytest


@pytest.fixture(autouse=True)
def cache_in_tmp_path(tmp_path, monkeypatch):
    """The tfseg cache (fingerprints of `inspect`) in the test's folder, not ~/.cache/tfseg."""
    monkeypatch.setenv("TFSEG_CACHE", str(tmp_path / "cache"))


def _copy(dataset, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(dataset, target)
    return target
