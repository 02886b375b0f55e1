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
@pytest.mark.slow
def test_models_benchmark_measures_tfseg_beside_segmentation_models(tiny_dataset):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "models.py"), "--models", "unet_resnet18", "--peer", "sm",
         "--size", "64", "--batch", "2", "--warmup", "1", "--steps", "3", "--data", str(tiny_dataset),
         "--augment", "medium"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in result.stdout.splitlines() if line.startswith("| `")}
    resnet = rows["`unet_resnet18`"]
    assert resnet[0].endswith("/ float32, no XLA") and resnet[4] == "float32"  # the peer at its own precision
    assert float(resnet[1]) > 0 and float(resnet[5]) > 0 and resnet[-3].endswith("×")
    assert re.search(r"tf.data pipeline alone \(tiny, augment medium, batch 2\): [\d,]+ img/s", result.stdout)


def test_models_benchmark_rows_of_models_without_a_peer_equivalent():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("benchmark_models", ROOT / "benchmarks" / "models.py")
        benchmark = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(benchmark)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert benchmark.peer_equivalent("linknet", "sm") is None  # its own encoder: segmentation_models has none
    assert benchmark.peer_equivalent("linknet_effb3", "sm") == ("Linknet", "efficientnetb3")
    ours = {"train": 50.0, "infer": 150.0, "host_mib": 1200.0, "precision": "float32", "infer_precision": "float32",
            "jit_compile": False}
    row = [cell.strip() for cell in benchmark.table_row("linknet", ours, None, "sm", gpu=False).split("|")[1:-1]]
    assert row[:6] == ["`linknet`", "float32 / float32, no XLA", "50.00", "150.00", "1,200", "no equivalent"]
    assert len(row) == len(benchmark.table_columns("sm", gpu=False))


def test_models_benchmark_pipeline_only_needs_a_dataset_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "models.py"), "--pipeline-only", "--data", str(tmp_path / "absent")],
        capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert f"--data {tmp_path / 'absent'} is not a folder" in result.stderr.strip().splitlines()[-1]


def _run_benchmark(script: str, *flags: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *flags], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_variants_benchmark_times_each_variant_against_the_first():
    stdout = _run_benchmark("variants.py", "--models", "unet", "--variants", "float32", "float32+keras_bn",
                            "--size", "32", "--batch", "2", "--warmup", "1", "--steps", "1", "--rounds", "2")
    row = next(line for line in stdout.splitlines() if line.startswith("| `unet`"))
    cells = [cell.strip() for cell in row.split("|")[2:-1]]
    assert float(cells[0]) > 0 and float(cells[1]) > 0 and cells[2].endswith("×")
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "variants.py"), "--variants", "float32+fast"],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "--variants 'float32+fast': unknown option(s) ['fast']" in result.stderr


def test_profile_step_sums_the_step_by_op_type_and_layer(tmp_path):
    stdout = _run_benchmark("profile_step.py", "--model", "unet", "--precision", "float32", "--size", "32",
                            "--batch", "2", "--steps", "1", "--logdir", str(tmp_path))
    assert "| op type | s per step | share |" in stdout and "| layer | s per step | share |" in stdout
    assert re.search(r"\| `\w*Conv2DBackpropFilter` \| [\d.]+ \| \d+% \|", stdout)
    assert list(tmp_path.rglob("*.xplane.pb"))


def test_xla_ops_benchmark_times_each_block_with_and_without_xla():
    stdout = _run_benchmark("xla_ops.py", "--shape", "1", "8", "8", "4", "--calls", "1")
    rows = [line for line in stdout.splitlines() if line.startswith("| ") and line.endswith("× |")]
    assert len(rows) == 4 and rows[1].startswith("| depthwise 3×3 convolution |")
