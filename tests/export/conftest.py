"""The run the export tests share: trained once by train.py with every TFLite format and ONNX."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_command(name: str, *args) -> subprocess.CompletedProcess:
    """Runs a top-level script of the project (`train.py`, `export.py`, …) in a fresh Python."""
    return subprocess.run([sys.executable, str(ROOT / name), *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="package")
def exported_run(tiny_dataset, tmp_path_factory) -> Path:
    """A tiny U-Net trained for 3 epochs by train.py with every TFLite format and ONNX."""
    run_dir = tmp_path_factory.mktemp("exported") / "run"
    train = run_command("train.py", "--config", ROOT / "tests" / "tiny_unet.yaml", "--data", tiny_dataset, "--image-size",
                       32, 32, "--epochs", 3, "--export", "tflite", "tflite-float16", "tflite-int8", "onnx",
                       "--run-dir", run_dir)
    assert train.returncode == 0, train.stderr[-2000:]
    assert "exports of" in train.stdout and "tflite-int8" in train.stdout  # the check table is printed
    return run_dir


def read_masks(folder: Path) -> dict[str, np.ndarray]:
    """The masks predict.py wrote into `folder`/masks, by file name."""
    return {path.name: cv2.imread(str(path), cv2.IMREAD_UNCHANGED) for path in sorted((folder / "masks").iterdir())}
