"""Distribution: mixed precision policies, MirroredStrategy on two CPUs, two workers on localhost."""

import json
import socket

import keras
import numpy as np
import pytest

from tests.conftest import finish, run_script, tiny_config
from tfseg.distribution import dtype_policy
from tfseg.errors import TfsegError
from tfseg.training import build_model


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_a_step_with_float32_outputs(precision, tmp_path):
    config = tiny_config(tmp_path, precision=precision)
    with dtype_policy(precision):
        model = build_model(config)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert model.get_layer(index=1).compute_dtype == precision.split("_")[1]
    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (precision == "mixed_float16")
    images = np.random.default_rng(1).random((4, 32, 32, 1), dtype=np.float32)
    masks = (images > 0.5).astype(np.float32)
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = model.train_on_batch(images, masks, return_dict=True)
    assert np.isfinite(logs["loss"]) and 0 <= logs["iou"] <= 1
    assert model(images).dtype == "float32"
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))


MIRRORED_SCRIPT = """
import json
import tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
import keras, numpy as np
from tfseg.config import config_from_dict
from tfseg.distribution import make_strategy
from tfseg.training import build_model

config = config_from_dict({"data": {"image_size": [32, 32], "channels": 1, "classes": 1},
    "model": {"options": {"depth": 2, "base_filters": 4, "batch_norm": False}},
    "train": {"batch_size": 8, "optimizer": "sgd", "lr": 0.05, "loss": "bce",
              "precision": "float32"}})  # bfloat16 convolutions round the 4+4 and 8 batches differently
images = np.random.default_rng(0).random((24, 32, 32, 1), dtype=np.float32)
masks = (images > 0.6).astype(np.float32)
losses = {}
for name in ("none", "mirrored"):
    strategy = make_strategy(name)
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = build_model(config)
    data = tf.data.Dataset.from_tensor_slices((images, masks)).batch(8)
    history = model.fit(data, epochs=3, verbose=0)
    losses[name] = (strategy.num_replicas_in_sync, history.history["loss"])
print(json.dumps(losses))
"""


def test_mirrored_on_two_cpus_follows_the_single_device_losses(tmp_path):
    output = finish(run_script(MIRRORED_SCRIPT, tmp_path)).strip().splitlines()[-1]
    losses = json.loads(output)
    assert losses["none"][0] == 1 and losses["mirrored"][0] == 2
    np.testing.assert_allclose(losses["mirrored"][1], losses["none"][1], rtol=1e-4)
    assert losses["none"][1][-1] < losses["none"][1][0]


WORKER_SCRIPT = """
import json
import numpy as np
import tensorflow as tf
from tfseg.config import config_from_dict
from tfseg.distribution import is_chief, make_strategy
from tfseg.training import build_model

strategy = make_strategy("multiworker")
config = config_from_dict({"data": {"image_size": [32, 32], "channels": 1, "classes": 1}, "model": {"options": {"depth": 2, "base_filters": 4}},
    "train": {"batch_size": 4}})
with strategy.scope():
    model = build_model(config)
images = np.random.default_rng(0).random((8, 32, 32, 1), dtype=np.float32)
data = tf.data.Dataset.from_tensor_slices((images, (images > 0.5).astype(np.float32))).batch(4).repeat()
history = model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "chief": is_chief(strategy), "loss": history.history["loss"]}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_workers_on_localhost_both_finish(tmp_path):
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    processes = [
        run_script(WORKER_SCRIPT, tmp_path, {"TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})})
        for index in range(2)
    ]
    results = [json.loads(finish(process).strip().splitlines()[-1]) for process in processes]
    assert [result["replicas"] for result in results] == [2, 2]
    assert [result["chief"] for result in results] == [True, False]
    assert results[0]["loss"] == results[1]["loss"] and np.isfinite(results[0]["loss"]).all()  # one all-reduced model


def test_auto_precision_is_bfloat16_convolutions_exactly_where_the_cpu_has_bfloat16(monkeypatch):
    from tfseg import distribution

    for has_bfloat16, expected in ((True, "mixed_bfloat16_convs"), (False, "float32")):
        monkeypatch.setattr(distribution, "cpu_has_bfloat16", lambda: has_bfloat16)
        assert distribution.resolve_precision("auto") == expected
    assert distribution.resolve_precision("mixed_float16") == "mixed_float16"
    assert distribution.resolve_jit_compile("auto") is False and distribution.resolve_jit_compile(True) is True


def test_bfloat16_convolutions_train_and_export_in_float32(tmp_path):
    from tfseg.distribution import float32_layers
    from tfseg.export.saved_model import write_saved_model
    from tfseg.export.tflite import write_tflite

    config = tiny_config(tmp_path, precision="mixed_bfloat16_convs")
    with dtype_policy("mixed_bfloat16_convs"):
        assert keras.config.dtype_policy().name == "float32"
        model = build_model(config)
    policies = {type(layer).__name__: layer.dtype_policy.name for layer in model.layers}
    assert policies["Conv2D"] == policies["Conv2DTranspose"] == "mixed_bfloat16"
    assert policies["BatchNormalization"] == policies["Activation"] == "float32"
    images = np.random.default_rng(2).random((4, 32, 32, 1), dtype=np.float32)
    logs = model.train_on_batch(images, (images > 0.5).astype(np.float32), return_dict=True)
    assert np.isfinite(logs["loss"]) and model(images).dtype == "float32"
    bfloat16_output = model.predict_on_batch(images)
    float32_layers(model)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    np.testing.assert_allclose(model.predict_on_batch(images), bfloat16_output, atol=0.05)  # bfloat16: 8-bit mantissa
    write_saved_model(model, tmp_path / "saved")
    write_tflite(tmp_path / "saved", tmp_path / "model.tflite")  # the converter rejects bfloat16 ops
    assert (tmp_path / "model.tflite").stat().st_size > 0


def test_inference_precision_float32_bfloat16_convs_or_auto(monkeypatch, tmp_path):
    from tfseg import distribution
    from tfseg.distribution import inference_layers

    with dtype_policy("mixed_bfloat16"):
        model = build_model(tiny_config(tmp_path, precision="mixed_bfloat16"))
    assert {layer.dtype_policy.name for layer in model.layers} >= {"mixed_bfloat16"}
    images = np.random.default_rng(3).random((2, 32, 32, 1), dtype=np.float32)
    inference_layers(model)  # the default: float32 everywhere
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    float32_output = model.predict_on_batch(images)
    inference_layers(model, "mixed_bfloat16_convs")
    assert {layer.dtype_policy.name for layer in model.layers if type(layer).__name__ == "Conv2D"} == {"mixed_bfloat16"}
    assert {layer.dtype_policy.name for layer in model.layers if type(layer).__name__ != "Conv2D"} - {"float32"} == {
        "mixed_bfloat16"}  # Conv2DTranspose too; nothing else
    np.testing.assert_allclose(model.predict_on_batch(images), float32_output, atol=0.05)
    for has_bfloat16, expected in ((False, {"float32"}), (True, {"float32", "mixed_bfloat16"})):
        monkeypatch.setattr(distribution, "cpu_has_bfloat16", lambda: has_bfloat16)
        assert {layer.dtype_policy.name for layer in inference_layers(model, "auto").layers} == expected
    with pytest.raises(TfsegError, match=r"--precision: expected one of \['float32', 'mixed_bfloat16_convs', 'auto'\]"):
        inference_layers(model, "mixed_float16")
