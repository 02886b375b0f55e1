"""The benchmark scripts the docs quote run end to end (tiny settings; no timing is asserted)."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("segmentation_models") is None,
                    reason="segmentation_models is not installed (pip install -e '.[benchmarks]')")
def test_models_benchmark_measures_tfseg_beside_segmentation_models(tiny_dataset):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "models.py"), "--models", "unet_resnet18", "linknet", "--peer", "sm",
         "--size", "64", "--batch", "2", "--warmup", "1", "--steps", "3", "--data", str(tiny_dataset),
         "--augment", "medium"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in result.stdout.splitlines() if line.startswith("| `")}
    resnet, linknet = rows["`unet_resnet18`"], rows["`linknet`"]
    assert resnet[0].endswith("no XLA") and resnet[4] == "float32"  # the peer at its own precision
    assert float(resnet[1]) > 0 and float(resnet[5]) > 0 and resnet[-3].endswith("×")
    assert float(linknet[1]) > 0 and linknet[4] == "no equivalent"
    assert re.search(r"tf.data pipeline alone \(tiny, augment medium, batch 2\): [\d,]+ img/s", result.stdout)


def test_models_benchmark_pipeline_only_needs_a_dataset_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "models.py"), "--pipeline-only", "--data", str(tmp_path / "absent")],
        capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert f"--data {tmp_path / 'absent'} is not a folder" in result.stderr.strip().splitlines()[-1]
