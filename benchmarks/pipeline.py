"""Images per second through decode → augment → batch, per preset, for both augmentation engines.

Each (dataset, preset) row runs the TF-native engine and the albumentations bridge on the same
images in the same process, one timed epoch each in turn (the order swapped every round), and
reports each engine's best epoch and the ratio TF / albumentations of the two. The pipeline is
`tfseg.data.make_dataset` exactly as training uses it (training=True, no cache, so every epoch
decodes again); a first pass per engine warms up (tracing, file cache) and is not timed. The
`none` rows run the same pipeline in both columns: their ratio shows the measurement noise.

    python benchmarks/pipeline.py [--data ../shared/data] [--images 320] [--rounds 4]

Needs albumentations (`pip install "tfseg[albumentations]"`). Not a test: numbers depend on the
machine and its load.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfseg.config import DataConfig  # noqa: E402
from tfseg.data import load_table, make_dataset, split_rows  # noqa: E402

DATASETS = {  # name → (image_size at native resolution, channels)
    "lung-cxr": ([256, 256], 1),
    "ph2-skin": ([192, 256], 3),
}
PRESETS = ("none", "light", "medium", "heavy")
ENGINES = ("tf", "albumentations")


def epoch_rate(dataset) -> float:
    """Images per second of one pass over `dataset`."""
    start = time.perf_counter()
    count = sum(int(images.shape[0]) for images, _ in dataset)
    return count / (time.perf_counter() - start)


def compare_engines(folder: Path, size: list[int], channels: int, preset: str, rows, batch_size: int, rounds: int) -> dict:
    """Best images/s of each engine over `rounds` alternating timed epochs (after one warm-up each)."""
    datasets = {}
    for engine in ENGINES:
        data = DataConfig(dir=str(folder), image_size=size, channels=channels, classes=1, mask_threshold=127,
                          augment=preset, engine=engine)
        datasets[engine] = make_dataset(rows, data, batch_size, training=True, seed=0)
        epoch_rate(datasets[engine])  # warm-up: tracing, file cache
    rates = {engine: [] for engine in ENGINES}
    for round_index in range(rounds):  # alternate, and swap the order every round, so both see the same load
        order = ENGINES if round_index % 2 == 0 else ENGINES[::-1]
        for engine in order:
            rates[engine].append(epoch_rate(datasets[engine]))
    return {engine: max(values) for engine, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--images", type=int, default=320, help="training images per dataset (default 320)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4, help="timed epochs per engine, alternating; the best counts")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    args = parser.parse_args()

    print(f"decode → augment → batch {args.batch_size}, images/s (best of {args.rounds} alternating epochs), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print("| dataset | size | preset | TF-native img/s | albumentations img/s | TF / albumentations |")
    print("|---|---|---|---:|---:|---:|")
    for name, (size, channels) in DATASETS.items():
        folder = Path(args.data) / name
        if not (folder / "images").is_dir():
            print(f"| {name} | absent: {folder} | | | | |")
            continue
        base = DataConfig(dir=str(folder), image_size=size, channels=channels, classes=1, mask_threshold=127)
        rows = split_rows(load_table(base, seed=0), "train").iloc[: args.images]
        for preset in args.presets:
            best = compare_engines(folder, size, channels, preset, rows, args.batch_size, args.rounds)
            tf_rate, albu_rate = best["tf"], best["albumentations"]
            print(f"| {name} | {size[1]}x{size[0]}x{channels} | {preset} | {tf_rate:,.0f} | {albu_rate:,.0f} | "
                  f"{tf_rate / albu_rate:.2f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
