"""Training: strategies, mixed precision, optimizers, resume and export, on tiny models."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

from tfseg import cli
from tfseg.callbacks import FreezeEncoder
from tfseg.config import config_from_dict
from tfseg.distribution import dtype_policy
from tfseg.errors import TfsegError
from tfseg.optim import AdamW, make_optimizer
from tfseg.run import trim_history
from tfseg.training import build_model, resume_run, train

TINY_MODEL = {"name": "unet", "options": {"depth": 2, "base_filters": 4}}


def tiny_config(data_dir, run_dir=None, **train):
    """A 32×32 two-level U-Net config on `data_dir`."""
    return config_from_dict(
        {
            "data": {"dir": str(data_dir), "image_size": [32, 32], "augment": "none"},
            "model": TINY_MODEL,
            "train": {"batch_size": 4, "tensorboard_images": 2, "run_dir": str(run_dir) if run_dir else None, **train},
        }
    )


def run_script(source: str, tmp_path: Path, env: dict | None = None) -> subprocess.Popen:
    """Starts `source` in a fresh Python (TF device set-up must precede TF initialisation)."""
    script = tmp_path / f"script_{abs(hash(source))}.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )


def finish(process: subprocess.Popen) -> str:
    """Waits for a script, asserts success and returns its stdout."""
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return stdout


class StopAtEpoch(keras.callbacks.Callback):
    """Interrupts training at the start of epoch `epoch` (0-based), as a crash would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"interrupted at epoch {epoch}")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """16 synthetic 32×32 pairs: train 8, val 4, test 4."""
    from tfseg.data.synthetic import write_demo_dataset

    folder = write_demo_dataset(tmp_path_factory.mktemp("data") / "small", samples=16, size=32, seed=5)
    splits = pd.read_csv(folder / "splits.csv")
    splits["split"] = ["train"] * 8 + ["val"] * 4 + ["test"] * 4
    splits.to_csv(folder / "splits.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def resumed_run(small_data, tmp_path_factory):
    """A 3-epoch run interrupted at the start of epoch 3 (two epochs done), then resumed."""
    run_dir = tmp_path_factory.mktemp("runs") / "resumed"
    config = tiny_config(small_data, run_dir, epochs=3, schedule="poly")
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[StopAtEpoch(2)])
    interrupted = pd.read_csv(run_dir / "history.csv")
    resume_run(run_dir, {"train.export": ["tflite"]})
    return run_dir, interrupted


def test_resume_continues_from_last_completed_epoch(resumed_run):
    run_dir, interrupted = resumed_run
    assert interrupted["epoch"].tolist() == [0, 1]  # the interrupted run kept its directory
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [0, 1, 2]
    pd.testing.assert_frame_equal(history.iloc[:2], interrupted)  # old rows untouched
    last = keras.saving.load_model(run_dir / "last.keras")
    steps = 2  # 8 training images, batch 4
    assert int(last.optimizer.iterations.numpy()) == 3 * steps  # optimizer state carried over
    assert float(keras.ops.convert_to_numpy(last.optimizer.learning_rate)) == pytest.approx(0.0, abs=1e-9)  # poly ended
    card = json.loads((run_dir / "export" / "model_card.json").read_text())
    best_epoch = int(history["val_iou"].idxmax())
    assert card["validation"] == {"metric": "val_iou", "value": pytest.approx(history["val_iou"].max()), "epoch": best_epoch}
    assert card["input"]["shape"] == [None, 32, 32, 1] and card["threshold"] == 0.5
    assert not (run_dir / "export.partial").exists()
    image_events = list((run_dir / "tensorboard" / "images").glob("events.out.tfevents.*"))
    assert image_events, "no validation images written to TensorBoard"


def test_saved_model_and_tflite_match_best_keras(resumed_run):
    run_dir, _ = resumed_run
    images = np.random.default_rng(0).random((3, 32, 32, 1), dtype=np.float32)
    best = keras.saving.load_model(run_dir / "best.keras")
    expected = best.predict(images, verbose=0)
    served = tf.saved_model.load(str(run_dir / "export")).signatures["serving_default"]
    (output,) = served(tf.constant(images)).values()
    np.testing.assert_allclose(output.numpy(), expected, atol=1e-5)
    interpreter = tf.lite.Interpreter(model_path=str(run_dir / "export" / "model.tflite"))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(lite, expected, atol=1e-4)


def test_checkpoints_load_after_import_tfseg_alone(resumed_run, tmp_path):
    run_dir, _ = resumed_run
    source = f"""
    import keras, tfseg
    for name in ("best.keras", "last.keras"):
        print(type(keras.saving.load_model({str(run_dir)!r} + "/" + name).optimizer).__name__)
    """
    assert finish(run_script(source, tmp_path)).split() == ["Adam", "Adam"]


def test_deep_supervision_trains_on_the_mean_head_loss_and_exports_the_last_head(small_data, tmp_path):
    depth = 2
    run_dir, options = tmp_path / "ds", tmp_path / "options.yaml"
    options.write_text(yaml.safe_dump({"model": {"options": {"depth": depth, "base_filters": 4}}}))
    assert cli.train_main([
        "--data", str(small_data), "--model", "unetpp", "--deep-supervision", "--epochs", "2",
        "--image-size", "32", "32", "--batch-size", "4", "--augment", "none", "--run-dir", str(run_dir),
        "--config", str(options),
    ]) == 0
    history = pd.read_csv(run_dir / "history.csv")
    heads = [f"head{j}_sigmoid_loss" for j in range(1, depth + 1)]
    assert {"iou", "dice", "val_iou", "val_dice", *heads, *("val_" + head for head in heads)} <= set(history)
    for stage in ("", "val_"):  # the loss is the mean of the heads' losses
        np.testing.assert_allclose(history[stage + "loss"], history[[stage + h for h in heads]].mean(axis=1), rtol=1e-4)
    best = keras.saving.load_model(run_dir / "best.keras")
    assert len(best.outputs) == depth
    images = np.random.default_rng(1).random((2, 32, 32, 1), dtype=np.float32)
    last_head = best.predict(images, verbose=0)[-1]
    served = tf.saved_model.load(str(run_dir / "export")).signatures["serving_default"]
    (output,) = served(tf.constant(images)).values()  # the export has one output: the last head
    np.testing.assert_allclose(output.numpy(), last_head, atol=1e-5)
    card = json.loads((run_dir / "export" / "model_card.json").read_text())
    assert card["validation"]["value"] == pytest.approx(history["val_iou"].max())
    assert cli.evaluate_main([str(run_dir), "--split", "test"]) == 0
    summary = json.loads((run_dir / "eval" / "test" / "summary.json").read_text())
    assert summary["images"] == 4 and 0 <= summary["scores"]["dice"]["mean"] <= 1


def test_trim_history_keeps_each_backed_up_epoch_once(tmp_path):
    path = tmp_path / "history.csv"
    pd.DataFrame({"epoch": [0, 1, 2, 1, 2, 3], "loss": [5.0, 4.0, 3.0, 4.1, 3.1, 2.0]}).to_csv(path, index=False)
    kept = trim_history(path, 3)
    assert kept["epoch"].tolist() == [0, 1, 2] and kept["loss"].tolist() == [5.0, 4.1, 3.1]
    assert pd.read_csv(path)["epoch"].tolist() == [0, 1, 2]


def test_failure_before_first_epoch_removes_run_dir(small_data, tmp_path):
    run_dir = tmp_path / "failed"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(small_data, run_dir, epochs=2, tensorboard_images=0), callbacks=[StopAtEpoch(0)])
    assert not run_dir.exists()


def test_resume_refuses_changed_model_and_missing_run(small_data, tmp_path, capsys):
    assert cli.train_main(["--resume", str(tmp_path / "nothing")]) == 2
    assert "no config.yaml" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    tiny_config(small_data).save(tmp_path / "run" / "config.yaml")
    assert cli.train_main(["--resume", str(tmp_path / "run"), "--lr", "0.1"]) == 2
    assert "train.lr cannot change on resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    "train_options, message",
    [
        ({"optimizer": "lamb"}, "train.optimizer: expected one of"),
        ({"precision": "float16"}, "train.precision: expected one of"),
        ({"export": ["onnx"]}, "train.export: expected one of"),
        ({"schedule": "cosine", "warmup_epochs": 10, "epochs": 5}, "train.warmup_epochs"),
        ({"monitor": "iou"}, "train.monitor"),
    ],
)
def test_bad_train_options_name_the_key(train_options, message):
    with pytest.raises(TfsegError, match=message):
        config_from_dict({"train": train_options})


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_a_step_with_float32_outputs(precision, tmp_path):
    config = tiny_config(tmp_path)
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


def nested_encoder_model():
    """A tiny functional model whose first stage is a nested keras.Model named "encoder"."""
    encoder_input = keras.Input((8, 8, 1))
    encoder = keras.Model(encoder_input, keras.layers.Conv2D(4, 3, padding="same", name="enc_conv")(encoder_input), name="encoder")
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid", name="head")(encoder(inputs))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_encoder_multiplier_shrinks_encoder_updates(optimizer):
    images = np.random.default_rng(2).random((4, 8, 8, 1), dtype=np.float32)
    masks = (images > 0.5).astype(np.float32)
    keras.utils.set_random_seed(0)
    template = nested_encoder_model()
    updates = {}
    for multiplier in (1.0, 0.1):
        model = nested_encoder_model()
        model.set_weights(template.get_weights())
        settings = config_from_dict({"train": {"optimizer": optimizer, "encoder_lr_multiplier": multiplier}}).train
        opt = make_optimizer(settings, steps_per_epoch=1)
        opt.scale_learning_rate(model.get_layer("encoder").trainable_variables)
        model.compile(optimizer=opt, loss="binary_crossentropy")
        model.train_on_batch(images, masks)
        updates[multiplier] = [w - w0 for w, w0 in zip(model.get_weights(), template.get_weights())]
    encoder_count = len(template.get_layer("encoder").weights)
    for index, (full, scaled) in enumerate(zip(updates[1.0], updates[0.1])):
        factor = 0.1 if index < encoder_count else 1.0
        np.testing.assert_allclose(scaled, factor * full, rtol=1e-3, atol=1e-7)
        assert np.abs(full).max() > 0


class RecordWeights(keras.callbacks.Callback):
    """Keeps a copy of every weight at the end of each epoch."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append([weight.copy() for weight in self.model.get_weights()])


def test_freeze_encoder_trains_only_the_decoder_first():
    images = np.random.default_rng(3).random((4, 8, 8, 1), dtype=np.float32)
    masks = (images > 0.5).astype(np.float32)
    model = nested_encoder_model()
    start = [weight.copy() for weight in model.get_weights()]
    model.compile(optimizer=make_optimizer(config_from_dict({}).train, steps_per_epoch=1), loss="binary_crossentropy")
    model.optimizer.build(model.trainable_variables)  # as build_model does: all variables, before freezing
    recorder = RecordWeights()
    model.fit(images, masks, batch_size=4, epochs=2, verbose=0, callbacks=[FreezeEncoder(1), recorder])
    encoder_count = len(model.get_layer("encoder").weights)
    after_first, after_second = recorder.epochs
    assert all(np.array_equal(a, b) for a, b in zip(after_first[:encoder_count], start[:encoder_count]))
    assert not any(np.array_equal(a, b) for a, b in zip(after_first[encoder_count:], start[encoder_count:]))
    assert not any(np.array_equal(a, b) for a, b in zip(after_second[:encoder_count], after_first[:encoder_count]))


def test_encoder_options_need_a_model_with_an_encoder(tmp_path):
    with pytest.raises(TfsegError, match="has no pretrained encoder"):
        build_model(tiny_config(tmp_path, encoder_lr_multiplier=0.1))


def test_optimizer_with_encoder_multiplier_round_trips(tmp_path):
    model = nested_encoder_model()
    model.compile(optimizer=AdamW(learning_rate=1e-3, weight_decay=1e-4, encoder_lr_multiplier=0.1), loss="mse")
    model.train_on_batch(np.ones((2, 8, 8, 1), np.float32), np.zeros((2, 8, 8, 1), np.float32))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, AdamW)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(restored))


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

config = config_from_dict({"data": {"image_size": [32, 32]},
    "model": {"options": {"depth": 2, "base_filters": 4, "batch_norm": False}},
    "train": {"batch_size": 8, "optimizer": "sgd", "lr": 0.05, "loss": "bce"}})
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
config = config_from_dict({"data": {"image_size": [32, 32]}, "model": {"options": {"depth": 2, "base_filters": 4}},
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
