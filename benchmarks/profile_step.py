"""Where a training step's time goes: TensorFlow's profiler around a few steps, summed by op.

Builds a model as train.py does (`tfseg.training.build_model`), warms it up, records
`--steps` `train_on_batch` steps on one random batch with `tf.profiler.experimental`,
and sums the recorded TensorFlow ops' durations on the executor threads by op type
(e.g. oneDNN's `_MklNativeConv2DBackpropFilter`) and by layer (the op's name up to its
last `/`; forward and backward ops of a layer together), printing the largest of each
per step. Ops on the two executor threads can overlap, so the sum can exceed the step.

    python benchmarks/profile_step.py --model unet_effb3 [--precision float32] [--xla]

The trace stays in `--logdir` for TensorBoard's profile plugin. Not a test.
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

from tfseg.config import config_from_dict  # noqa: E402
from tfseg.distribution import dtype_policy, resolve_precision  # noqa: E402
from tfseg.training import build_model  # noqa: E402


def op_seconds(trace: Path) -> tuple[collections.Counter, collections.Counter]:
    """Seconds per op type and per layer of the TensorFlow ops in an XSpace trace file
    (events named `<op name>:<op type>` on the `tf_Compute` executor threads)."""
    space = xplane_pb2.XSpace()
    space.ParseFromString(trace.read_bytes())
    by_type, by_layer = collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "::" in name:  # executor and thread-pool events, not ops
                    continue
                op_name, op_type = name.rsplit(":", 1)
                if op_type == "ReadVariableOp":
                    continue
                by_type[op_type] += event.duration_ps / 1e12
                by_layer[op_name.removeprefix("gradient_tape/").rsplit("/", 1)[0]] += event.duration_ps / 1e12
    return by_type, by_layer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="unet_resnet34")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--xla", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3, help="profiled steps (after 2 warm-up steps)")
    parser.add_argument("--top", type=int, default=12, help="rows per table")
    parser.add_argument("--logdir", type=Path, default=Path(tempfile.mkdtemp(prefix="tfseg-profile-")))
    args = parser.parse_args()

    precision = resolve_precision(args.precision)
    config = config_from_dict({
        "data": {"image_size": [args.size, args.size], "channels": 3, "classes": 1},
        "model": {"name": args.model},
        "train": {"batch_size": args.batch, "precision": precision, "jit_compile": args.xla},
    })
    keras.utils.set_random_seed(0)
    with dtype_policy(precision):
        model = build_model(config)
    rng = np.random.default_rng(0)
    images = rng.random((args.batch, args.size, args.size, 3), dtype=np.float32)
    masks = rng.integers(0, 2, (args.batch, args.size, args.size, 1)).astype(np.float32)
    for _ in range(2):
        model.train_on_batch(images, masks)
    tf.profiler.experimental.start(str(args.logdir))
    for _ in range(args.steps):
        model.train_on_batch(images, masks)
    tf.profiler.experimental.stop()
    by_type, by_layer = op_seconds(max(args.logdir.rglob("*.xplane.pb"), key=lambda path: path.stat().st_mtime))

    total = sum(by_type.values())
    print(f"{args.model}, {precision}, {'XLA' if args.xla else 'no XLA'}, batch {args.batch}, {args.size}², "
          f"{args.steps} steps: {total / args.steps:.3f} s of ops per step; trace in {args.logdir}\n")
    for title, table in (("op type", by_type), ("layer", by_layer)):
        print(f"| {title} | s per step | share |\n|---|---:|---:|")
        for name, seconds in table.most_common(args.top):
            print(f"| `{name}` | {seconds / args.steps:.3f} | {seconds / total:.0%} |")
        print()


if __name__ == "__main__":
    main()
