"""Where training runs: the tf.distribute strategy and the mixed-precision policy."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import keras
import tensorflow as tf

from tfseg.config import INFERENCE_PRECISIONS
from tfseg.errors import TfsegError
from tfseg.models.blocks import leaf_layers


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy called `name`.

    Args:
        name: str. `auto`: MirroredStrategy when more than one GPU is visible, else the
            default strategy; `none`: the default strategy; `mirrored`: MirroredStrategy
            over all GPUs, or over all logical CPU devices when there is no GPU;
            `multiworker`: MultiWorkerMirroredStrategy configured by the TF_CONFIG
            environment variable.
    """
    if name == "multiworker":  # first: collective ops must be configured before TF initialises devices
        if "TF_CONFIG" not in os.environ:
            raise TfsegError("--strategy multiworker: the TF_CONFIG environment variable is not set")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as error:
            raise TfsegError(f"--strategy multiworker: TF_CONFIG is not valid JSON ({error})") from None
        return _reduce_nested_values(tf.distribute.MultiWorkerMirroredStrategy())
    gpus = tf.config.list_logical_devices("GPU")
    if name == "none" or (name == "auto" and len(gpus) < 2):
        return tf.distribute.get_strategy()
    if name in ("auto", "mirrored"):
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    raise TfsegError(f"--strategy: expected auto, none, mirrored or multiworker, got {name!r}")


def _reduce_nested_values(strategy: tf.distribute.Strategy) -> tf.distribute.Strategy:
    """Makes `strategy.reduce` work the way Keras 3's `fit` calls it under multi-worker.

    Keras 3 (keras-team/keras#20585) reduces the first (image, mask) batch as one tuple,
    which MultiWorkerMirroredStrategy's collective reduce does not accept, and reduces
    per-replica scalar metrics with `axis=0`, which a scalar does not have. Reducing
    each tensor on its own, and scalars across replicas only, gives what Keras intends.
    """
    reduce_one = strategy.reduce

    def reduce(reduce_op: Any, value: Any, axis: int | None = None) -> Any:
        def reduce_tensor(tensor: Any) -> Any:
            rank = strategy.experimental_local_results(tensor)[0].shape.rank
            return reduce_one(reduce_op, tensor, axis if rank else None)

        return tf.nest.map_structure(reduce_tensor, value)

    strategy.reduce = reduce
    return strategy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True unless this process is a non-chief worker of a multi-worker strategy."""
    return strategy.extended.should_checkpoint

def worker_name(strategy: tf.distribute.Strategy) -> str:
    """`<task type>-<task id>` of a multi-worker process, e.g. `worker-1`."""
    resolver = strategy.cluster_resolver
    return f"{resolver.task_type}-{resolver.task_id}"


CONVS_IN_BFLOAT16 = "mixed_bfloat16_convs"
"""The precision that computes convolutions (Conv2D, Conv2DTranspose) in bfloat16 and
everything else in float32: on a CPU with bfloat16 dot-product instructions, oneDNN's
bfloat16 convolutions are about twice as fast as float32 ones, while its depthwise
convolutions and TensorFlow's element-wise ops (sigmoid, swish) are slower in bfloat16
than in float32 (benchmarks/NOTES.md)."""


def cpu_has_bfloat16() -> bool:
    """Whether this machine's CPU has bfloat16 dot-product instructions (x86 AVX512_BF16
    or AMX-BF16), as Linux reports them in /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(name: str) -> str:
    """The precision `--precision` names; `auto` is mixed_float16 on a GPU, and on CPU
    `mixed_bfloat16_convs` where the CPU has bfloat16 instructions (1.02-1.52× faster
    training for every model measured, docs/speed.md), else float32."""
    if name != "auto":
        return name
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16"
    return CONVS_IN_BFLOAT16 if cpu_has_bfloat16() else "float32"


def apply_layer_precision(model: keras.Model, precision: str) -> keras.Model:
    """For `mixed_bfloat16_convs`, gives every Conv2D and Conv2DTranspose of `model` and
    of its nested models the mixed_bfloat16 policy (float32 weights, bfloat16 compute);
    other precisions are the global policy's (`dtype_policy`) and change nothing here."""
    if precision != CONVS_IN_BFLOAT16:
        return model
    for layer in leaf_layers(model):
        if type(layer) in (keras.layers.Conv2D, keras.layers.Conv2DTranspose):
            layer.dtype_policy = keras.DTypePolicy("mixed_bfloat16")
    return model


def float32_layers(model: keras.Model) -> keras.Model:
    """Gives every layer of `model` and of its nested models the float32 policy, in place,
    and returns `model`: what prediction and export run, whatever the training precision,
    so results do not depend on the machine and other runtimes (TFLite, ONNX) get float32
    ops only."""
    for layer in leaf_layers(model):
        if layer.dtype_policy.name != "float32":
            layer.dtype_policy = keras.DTypePolicy("float32")
    return model


@contextlib.contextmanager
def float32_while(model: keras.Model) -> Iterator[keras.Model]:
    """Gives every layer of `model` and of its nested models the float32 policy inside the
    block (`float32_layers`) and each its own policy back after: how a model in training
    is saved as the float32 model prediction and export run (`best.keras`)."""
    policies = [(layer, layer.dtype_policy) for layer in leaf_layers(model)]
    float32_layers(model)
    try:
        yield model
    finally:
        for layer, policy in policies:
            layer.dtype_policy = policy


def inference_layers(model: keras.Model, precision: str = "float32") -> keras.Model:
    """Gives `model` the layer precision prediction runs in, in place, and returns it.

    Args:
        model: keras.Model. A trained model, whatever precision it was trained in.
        precision: str. `float32` (the default: the same results on every machine);
            `mixed_bfloat16_convs` (convolutions in bfloat16: on a CPU with bfloat16
            instructions about 1.3-1.5× faster, probabilities within about 1e-2, see
            docs/speed.md); `auto`: mixed_bfloat16_convs on such a CPU without a GPU,
            else float32.

    Raises:
        TfsegError: an unknown precision.
    """
    return apply_layer_precision(float32_layers(model), resolve_inference_precision(precision))


def resolve_inference_precision(name: str) -> str:
    """The precision prediction's `--precision` names (see `inference_layers`); `auto` resolved."""
    if name not in INFERENCE_PRECISIONS:
        raise TfsegError(f"--precision: expected one of {list(INFERENCE_PRECISIONS)} for prediction, got {name!r}")
    if name == "auto":
        gpu = tf.config.list_logical_devices("GPU")
        return CONVS_IN_BFLOAT16 if cpu_has_bfloat16() and not gpu else "float32"
    return name


def resolve_jit_compile(setting: bool | str) -> bool:
    """Whether to compile the train step with XLA: `setting` itself when it is a
    bool; `auto` is off on CPU, where XLA's convolutions are no faster than oneDNN's and
    its depthwise ones 20× slower (benchmarks/NOTES.md), and on GPU as before (off) until
    measured."""
    return setting is True


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Sets the global Keras dtype policy inside the block and restores the previous one after
    (float32 for `mixed_bfloat16_convs`, whose convolutions `apply_layer_precision` sets).

    Models built inside compute in the policy's dtype; their last layer, the losses and
    the metrics stay float32. With `mixed_float16`, `Model.compile` wraps the optimizer
    in a `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling).
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32" if name == CONVS_IN_BFLOAT16 else name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
