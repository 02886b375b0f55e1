"""Where training runs: the tf.distribute strategy and the mixed-precision policy."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator

import keras
import tensorflow as tf

from tfseg.errors import TfsegError


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


def resolve_precision(name: str) -> str:
    """The Keras dtype policy of `--precision`: `auto` is mixed_float16 on GPU, float32 otherwise."""
    if name == "auto":
        return "mixed_float16" if tf.config.list_logical_devices("GPU") else "float32"
    return name


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Sets the global Keras dtype policy inside the block and restores the previous one after.

    Models built inside compute in the policy's dtype; their last layer, the losses and
    the metrics stay float32. With `mixed_float16`, `Model.compile` wraps the optimizer
    in a `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling).
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
