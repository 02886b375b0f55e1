"""Training throughput (images per second) per model under float32, mixed precision and XLA.

For each model, every setting builds the model exactly as `tfseg.training` does
(`build_model` inside `dtype_policy`, same optimizer, loss and metrics) and runs
`train_on_batch` on one fixed random batch: `--warmup` untimed steps (tracing,
compilation), then `--steps` timed steps. The ratio column compares each setting with
float32 of the same model, measured in the same run. The machine's load average is
printed before and after, because the ratios mean little on a busy machine.

    python benchmarks/throughput.py [--models unet linknet_effb3] [--size 128] [--batch 8] [--steps 5]

Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfseg.config import config_from_dict  # noqa: E402
from tfseg.distribution import dtype_policy  # noqa: E402
from tfseg.training import build_model  # noqa: E402

SETTINGS = {  # name → (precision, jit_compile)
    "float32": ("float32", False),
    "mixed_float16": ("mixed_float16", False),
    "mixed_bfloat16": ("mixed_bfloat16", False),
    "float32 + jit_compile": ("float32", True),
    "mixed_bfloat16 + jit_compile": ("mixed_bfloat16", True),
}


def images_per_second(model_name: str, precision: str, jit_compile: bool, args: argparse.Namespace) -> float:
    """Timed training steps of one model and setting, in images per second."""
    config = config_from_dict(
        {
            "data": {"image_size": [args.size, args.size], "channels": 3},
            "model": {"name": model_name},
            "train": {"batch_size": args.batch, "jit_compile": jit_compile, "precision": precision},
        }
    )
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.random((args.batch, args.size, args.size, 3), dtype=np.float32)
    masks = (rng.random((args.batch, args.size, args.size, 1)) > 0.5).astype(np.float32)
    with dtype_policy(precision):
        model = build_model(config)
        for _ in range(args.warmup):
            model.train_on_batch(images, masks)
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = model.train_on_batch(images, masks, return_dict=True)["loss"]
        elapsed = time.perf_counter() - start
    if not np.isfinite(loss):
        raise RuntimeError(f"{model_name} {precision}: loss is {loss}")
    keras.backend.clear_session()
    return args.steps * args.batch / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["unet", "linknet_effb3"])
    parser.add_argument("--size", type=int, default=128, help="image height and width")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (tracing, XLA compilation)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    args = parser.parse_args()

    load_before = os.getloadavg()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores, "
          f"GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    print(f"{args.size}x{args.size}x3 images, batch {args.batch}, {args.warmup} warm-up + {args.steps} timed steps each")
    print(f"load average before: {load_before[0]:.2f} (1 min), {load_before[1]:.2f} (5 min)\n")
    print(f"{'model':<16}{'setting':<30}{'img/s':>8}{'vs float32':>12}")
    for model_name in args.models:
        baseline = None
        for setting, (precision, jit_compile) in SETTINGS.items():
            rate = images_per_second(model_name, precision, jit_compile, args)
            baseline = baseline or rate
            print(f"{model_name:<16}{setting:<30}{rate:>8.2f}{rate / baseline:>11.2f}x", flush=True)
    load_after = os.getloadavg()
    print(f"\nload average after: {load_after[0]:.2f} (1 min), {load_after[1]:.2f} (5 min)")


if __name__ == "__main__":
    main()
