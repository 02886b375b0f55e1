"""Training speed of one model under several settings, A/B in one process.

Each variant is a precision (a tfseg `train.precision`: float32, mixed_bfloat16,
mixed_bfloat16_convs, mixed_float16), optionally with `+xla` (the train step compiled
with XLA) and `+keras_bn` (Keras' own unfused BatchNormalization instead of tfseg's
fused one). Every variant of a model is built and compiled in the same process by
`tfseg.training.build_model` (train.py's model, loss, metrics and optimizer), warmed up,
then timed in `--rounds` rounds of `--steps` `train_on_batch` steps on one fixed random
batch, taking the variants in turn and swapping their order every round, so that all
meet the same machine. The median step counts; the last column is each variant's
speed over the first's.

    python benchmarks/variants.py --models unet_effb3 --variants float32 mixed_bfloat16_convs
    python benchmarks/variants.py --models unet_resnet34 --variants float32 float32+xla
    python benchmarks/variants.py --models unet_effb3 --variants float32+keras_bn float32

Not a test: numbers depend on the machine and its load. See benchmarks/NOTES.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OPTIONS = ("xla", "keras_bn")


def parse_variant(text: str) -> tuple[str, set[str]]:
    """(precision, options) of a variant written `precision[+option...]`."""
    precision, *options = text.split("+")
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise SystemExit(f"benchmarks/variants.py: --variants {text!r}: unknown option(s) {sorted(unknown)}; "
                         f"expected precision[+xla][+keras_bn]")
    return precision, set(options)


def build_variant(name: str, variant: str, size: int, batch: int):
    """The compiled model of `variant`, with its training batch."""
    import keras
    import numpy as np

    from tfseg.config import config_from_dict
    from tfseg.distribution import dtype_policy, resolve_precision
    from tfseg.models.batch_norm import BatchNormalization
    from tfseg.models.blocks import leaf_layers
    from tfseg.training import build_model

    precision, options = parse_variant(variant)
    config = config_from_dict({
        "data": {"image_size": [size, size], "channels": 3, "classes": 1},
        "model": {"name": name},
        "train": {"batch_size": batch, "precision": precision, "jit_compile": "xla" in options},
    })
    keras.utils.set_random_seed(0)
    with dtype_policy(resolve_precision(precision)):
        model = build_model(config)
    if "keras_bn" in options:
        for layer in leaf_layers(model):
            if type(layer) is BatchNormalization:
                layer.__class__ = keras.layers.BatchNormalization
    rng = np.random.default_rng(0)
    images = rng.random((batch, size, size, 3), dtype=np.float32)
    masks = rng.integers(0, 2, (batch, size, size, 1)).astype(np.float32)
    return model, images, masks


def compare(name: str, args: argparse.Namespace) -> list[float]:
    """Median training images/s of each variant of model `name`."""
    built = {variant: build_variant(name, variant, args.size, args.batch) for variant in args.variants}
    for model, images, masks in built.values():
        for _ in range(args.warmup):
            model.train_on_batch(images, masks)
    seconds = {variant: [] for variant in args.variants}
    for round_index in range(args.rounds):
        order = args.variants if round_index % 2 == 0 else args.variants[::-1]
        for variant in order:
            model, images, masks = built[variant]
            for _ in range(args.steps):
                start = time.perf_counter()
                model.train_on_batch(images, masks)
                seconds[variant].append(time.perf_counter() - start)
    return [args.batch / statistics.median(seconds[variant]) for variant in args.variants]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["unet_resnet34", "unet_effb3"], metavar="NAME")
    parser.add_argument("--variants", nargs="+", default=["float32", "mixed_bfloat16_convs"], metavar="VARIANT",
                        help="precision[+xla][+keras_bn]; the first is the reference (default: float32 "
                             "mixed_bfloat16_convs)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant first (tracing, XLA)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for variant in args.variants:  # before TensorFlow loads: a typo fails at once
        parse_variant(variant)
    import keras

    print(f"{os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f} at start; {args.size}x{args.size}x3, "
          f"batch {args.batch}; training img/s, median of {args.rounds} rounds x {args.steps} steps per variant\n")
    print("| model | " + " | ".join(f"{variant} img/s" for variant in args.variants) + " | "
          + " | ".join(f"{variant} / {args.variants[0]}" for variant in args.variants[1:]) + " |")
    print("|---|" + "---:|" * (2 * len(args.variants) - 1), flush=True)
    for name in args.models:
        rates = compare(name, args)
        cells = [f"{rate:.2f}" for rate in rates] + [f"{rate / rates[0]:.2f}×" for rate in rates[1:]]
        print(f"| `{name}` | " + " | ".join(cells) + " |", flush=True)
        keras.backend.clear_session()
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
