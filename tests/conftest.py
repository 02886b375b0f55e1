"""Shared fixtures: tiny datasets made in temporary folders, and ../shared data when present."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_dataset(name: str) -> Path:
    """A dataset folder under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not (path / "images").is_dir():
        pytest.skip(f"shared dataset {path} is absent (tests read ../shared/data in place)")
    return path


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """24 synthetic 64×64 image/mask pairs with a splits.csv (train 16, val 4, test 4)."""
    from tfseg.data.synthetic import write_demo_dataset

    return write_demo_dataset(tmp_path_factory.mktemp("data") / "tiny", samples=24, size=64, seed=3)
