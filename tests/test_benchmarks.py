"""The benchmark scripts the docs quote run end to end (tiny settings; no timing is asserted)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_throughput_benchmark_prints_its_table():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--models", "unet", "--size", "32", "--batch", "2",
         "--warmup", "1", "--steps", "1"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("unet ")]
    assert [row[1] for row in rows] == ["float32", "mixed_float16", "mixed_bfloat16", "float32", "mixed_bfloat16"]
    assert all(float(row[-2]) > 0 for row in rows)
