"""Images per second through decode → augment → batch, per preset, for both augmentation engines.

Each (dataset, preset) row runs the TF-native engine and the albumentations bridge on the same
images in the same process, alternating, and reports the ratio TF / albumentations. The
pipeline is `tfseg.data.make_dataset` exactly as training uses it (training=True, no cache, so
every epoch decodes again); the first pass over the images warms up (tracing, file cache) and
is not timed.

    python benchmarks/pipeline.py [--data ../shared/data] [--images 320] [--repeats 2]

Needs albumentations (`pip install "tfseg[albumentations]"`). Not a test: numbers depend on the
machine and its load.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfseg.config import DataConfig  # noqa: E402
from tfseg.data import load_table, make_dataset, split_rows  # noqa: E402

DATASETS = {  # name → (image_size at native resolution, channels)
    "lung-cxr": ([256, 256], 1),
    "ph2-skin": ([192, 256], 3),
}
PRESETS = ("none", "light", "medium", "heavy")
ENGINES = ("tf", "albumentations")


def images_per_second(data: DataConfig, rows, batch_size: int, repeats: int) -> float:
    """Best of `repeats` timed epochs over `rows` after one warm-up epoch."""
    dataset = make_dataset(rows, data, batch_size, training=True, seed=0)
    for _ in dataset:
        pass
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        count = sum(int(images.shape[0]) for images, _ in dataset)
        rates.append(count / (time.perf_counter() - start))
    return max(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--images", type=int, default=320, help="training images per dataset (default 320)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per measurement; the best counts")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    args = parser.parse_args()

    print(f"decode → augment → batch {args.batch_size}, images/s (best of {args.repeats}), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"| dataset | size | preset | TF-native img/s | albumentations img/s | TF / albumentations |")
    print("|---|---|---|---:|---:|---:|")
    for name, (size, channels) in DATASETS.items():
        folder = Path(args.data) / name
        if not (folder / "images").is_dir():
            print(f"| {name} | absent: {folder} | | | | |")
            continue
        base = DataConfig(dir=str(folder), image_size=size, channels=channels)
        rows = split_rows(load_table(base, seed=0), "train").iloc[: args.images]
        for preset in args.presets:
            rates = {engine: [] for engine in ENGINES}
            for _ in range(2):  # alternate the engines so both see the same machine load
                for engine in ENGINES:
                    data = DataConfig(dir=str(folder), image_size=size, channels=channels, augment=preset, engine=engine)
                    rates[engine].append(images_per_second(data, rows, args.batch_size, args.repeats))
            tf_rate, albu_rate = max(rates["tf"]), max(rates["albumentations"])
            print(f"| {name} | {size[1]}x{size[0]}x{channels} | {preset} | {tf_rate:,.0f} | {albu_rate:,.0f} | "
                  f"{tf_rate / albu_rate:.2f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
