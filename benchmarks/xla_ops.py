"""XLA against TensorFlow's own kernels, one op type at a time, forward + backward.

For each building block of the models (3×3 convolution, depthwise 3×3 convolution,
squeeze-excite, Keras' unfused batch norm) a `tf.function` computes the block's output
and its gradients with respect to input and weights, once compiled with XLA
(`jit_compile=True`) and once without; both are warmed up, then timed alternately, and
the median call counts. Explains why `--jit-compile auto` is off on CPU.

    python benchmarks/xla_ops.py [--shape 8 64 64 96] [--calls 10]

Not a test: numbers depend on the machine and its load. See benchmarks/NOTES.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402


def blocks(channels: int) -> dict[str, keras.layers.Layer]:
    """The blocks timed, each a layer taking and returning N×H×W×channels."""
    def squeeze_excite(x):
        scale = tf.sigmoid(tf.reduce_mean(x, axis=(1, 2), keepdims=True))
        return x * scale

    return {
        "3×3 convolution": keras.layers.Conv2D(channels, 3, padding="same"),
        "depthwise 3×3 convolution": keras.layers.DepthwiseConv2D(3, padding="same"),
        "squeeze-excite (mean, sigmoid, multiply)": keras.layers.Lambda(squeeze_excite),
        "batch norm (Keras 3, unfused)": keras.layers.BatchNormalization(),
    }


def forward_backward(layer: keras.layers.Layer, jit_compile: bool):
    """A tf.function of the layer's output and its gradients (input and weights)."""
    @tf.function(jit_compile=jit_compile)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True))
        return tape.gradient(loss, [x, *layer.trainable_variables])

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[8, 64, 64, 96], metavar=("N", "H", "W", "C"))
    parser.add_argument("--calls", type=int, default=10, help="timed calls per variant; the median counts")
    args = parser.parse_args()
    x = tf.random.uniform(args.shape)
    print(f"{os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f}; input {'x'.join(map(str, args.shape))}, "
          f"forward + backward, median of {args.calls} calls\n")
    print("| block | no XLA ms | XLA ms | speed with XLA |\n|---|---:|---:|---:|")
    for name, layer in blocks(args.shape[-1]).items():
        layer.build(x.shape)
        steps = {jit: forward_backward(layer, jit) for jit in (False, True)}
        seconds = {jit: [] for jit in steps}
        for step in steps.values():
            step(x)  # tracing, compilation
        for _ in range(args.calls):
            for jit, step in steps.items():
                start = time.perf_counter()
                [tensor.numpy() for tensor in step(x)]
                seconds[jit].append(time.perf_counter() - start)
        plain, xla = (statistics.median(seconds[jit]) * 1000 for jit in (False, True))
        print(f"| {name} | {plain:.1f} | {xla:.1f} | {plain / xla:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
