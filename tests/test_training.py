"""Training: resume, the exported best model, deep supervision and failures, on tiny models.
Strategies and precision: tests/test_distribution.py; optimizers: tests/test_optim.py."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

from tests.conftest import finish, run_script, stop_at_epoch, tiny_config
from tfseg import cli
from tfseg.distribution import float32_layers
from tfseg.errors import TfsegError
from tfseg.export.onnx import OnnxModel
from tfseg.export.tflite import TfliteModel
from tfseg.files import WRITE_DELAY_VARIABLE, WRITE_LOG_VARIABLE
from tfseg.run_state import completed_epochs
from tfseg.training import build_model, resume_run, train

ROOT = Path(__file__).resolve().parents[1]


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
        train(config, callbacks=[stop_at_epoch(2)])
    interrupted = pd.read_csv(run_dir / "history.csv")
    resume_run(run_dir, {"train.export": ["tflite"]})
    return run_dir, interrupted


@pytest.mark.slow
def test_resume_continues_from_last_completed_epoch(resumed_run):
    run_dir, interrupted = resumed_run
    assert interrupted["epoch"].tolist() == [1, 2]  # the interrupted run kept its directory
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]  # numbered from 1
    pd.testing.assert_frame_equal(history.iloc[:2], interrupted)  # old rows untouched
    last = keras.saving.load_model(run_dir / "last.keras")
    steps = 2  # 8 training images, batch 4
    assert int(last.optimizer.iterations.numpy()) == 3 * steps  # optimizer state carried over
    assert float(keras.ops.convert_to_numpy(last.optimizer.learning_rate)) == pytest.approx(0.0, abs=1e-9)  # poly ended
    card = json.loads((run_dir / "export" / "model_card.json").read_text())
    best_epoch = int(history.loc[history["val_iou"].idxmax(), "epoch"])
    assert card["validation"] == {"metric": "val_iou", "value": pytest.approx(history["val_iou"].max()), "epoch": best_epoch}
    assert card["input"]["shape"] == [None, 32, 32, 1] and card["threshold"] == 0.5
    assert not [p for p in run_dir.iterdir() if ".partial-" in p.name or ".old-" in p.name]  # no temporaries left
    image_events = list((run_dir / "tensorboard" / "images").glob("events.out.tfevents.*"))
    assert image_events, "no validation images written to TensorBoard"


@pytest.mark.slow
def test_saved_model_and_tflite_match_best_keras(resumed_run):
    run_dir, _ = resumed_run
    images = np.random.default_rng(0).random((3, 32, 32, 1), dtype=np.float32)
    best = float32_layers(keras.saving.load_model(run_dir / "best.keras"))  # exports are float32
    expected = best.predict(images, verbose=0)
    served = tf.saved_model.load(str(run_dir / "export")).signatures["serving_default"]
    (output,) = served(tf.constant(images)).values()
    np.testing.assert_allclose(output.numpy(), expected, atol=1e-5)
    lite = TfliteModel(run_dir / "export" / "model.tflite").predict_on_batch(images)  # LiteRT
    np.testing.assert_allclose(lite, expected, atol=1e-4)


@pytest.mark.slow
def test_best_keras_predicts_what_the_exports_predict(small_data, tmp_path):
    """A run trained in mixed precision saves best.keras as the float32 model its exports are, so
    plain `keras.saving.load_model(best.keras)` predicts what the SavedModel, ONNX and TFLite files do."""
    run_dir = tmp_path / "mixed"
    assert cli.train_main([
        "--data", str(small_data), "--model", "unet", "--config", str(ROOT / "tests" / "tiny_unet.yaml"),
        "--image-size", "32", "32", "--epochs", "1", "--batch-size", "4", "--augment", "none",
        "--tensorboard-images", "0", "--precision", "mixed_bfloat16_convs", "--export", "onnx", "tflite",
        "--run-dir", str(run_dir),
    ]) == 0
    best = keras.saving.load_model(run_dir / "best.keras")
    images = np.random.default_rng(2).random((3, 32, 32, 1), dtype=np.float32)
    expected = best.predict(images, verbose=0)
    served = tf.saved_model.load(str(run_dir / "export")).signatures["serving_default"]
    (saved_model,) = served(tf.constant(images)).values()
    exports = {
        "SavedModel": saved_model.numpy(),
        "ONNX": OnnxModel(run_dir / "export" / "model.onnx").predict_on_batch(images),
        "TFLite": TfliteModel(run_dir / "export" / "model.tflite").predict_on_batch(images),
    }
    for name, predicted in exports.items():
        np.testing.assert_allclose(predicted, expected, atol=1e-4, err_msg=name)
    assert {layer.dtype_policy.name for layer in best.layers} == {"float32"}
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["precision"] == "mixed_bfloat16_convs"


@pytest.mark.slow
@pytest.mark.parametrize("imports", ["import keras, tfseg", "import tfseg, keras", "import tfseg, tensorflow, keras"])
def test_checkpoints_load_after_import_tfseg_alone(resumed_run, tmp_path, imports):
    """tfseg registers its Keras objects whether Keras is imported before it or after it (TensorFlow, which
    asks whether Keras is installed, in between)."""
    run_dir, _ = resumed_run
    source = f"""
    {imports}
    for name in ("best.keras", "last.keras"):
        print(type(keras.saving.load_model({str(run_dir)!r} + "/" + name).optimizer).__name__)
    """
    assert finish(run_script(source, tmp_path)).split() == ["Adam", "Adam"]


@pytest.mark.slow
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
    best = float32_layers(keras.saving.load_model(run_dir / "best.keras"))  # exports are float32
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


def test_failure_before_first_epoch_removes_run_dir(small_data, tmp_path):
    run_dir = tmp_path / "failed"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(small_data, run_dir, epochs=2, tensorboard_images=0), callbacks=[stop_at_epoch(0)])
    assert not run_dir.exists()


def test_resume_refuses_changed_model_and_missing_run(small_data, tmp_path, capsys):
    assert cli.train_main(["--resume", str(tmp_path / "nothing")]) == 2
    assert "no config.yaml" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    tiny_config(small_data).save(tmp_path / "run" / "config.yaml")
    assert cli.train_main(["--resume", str(tmp_path / "run"), "--lr", "0.1"]) == 2
    assert "train.lr cannot change on resume" in capsys.readouterr().err


def test_a_bad_loss_stops_before_the_dataset_is_read(tmp_path):
    with pytest.raises(TfsegError, match="bcee"):  # not "dataset ... does not exist": the loss is checked first
        train(tiny_config(tmp_path / "not-a-dataset", tmp_path / "run", loss="bcee"))
    assert list(tmp_path.iterdir()) == []


def test_encoder_options_need_a_model_with_an_encoder(tmp_path):
    config = tiny_config(tmp_path, encoder_lr_multiplier=0.1)
    config.data.classes, config.data.mask_threshold = None, None  # left to the data: the model needs its classes
    with pytest.raises(TfsegError, match=r"^data.classes: null, not decided yet"):
        build_model(config)
    config.data.classes = 1  # as train decides it
    with pytest.raises(TfsegError, match="has no pretrained encoder"):
        build_model(config)


# --- Crash safety: kills at any moment, damaged states, signals, a second process ----------------------------------


def _train_command(data, run_dir, epochs):
    """train.py on the small data: a 32x32 two-level U-Net, batch 4 (two steps an epoch), no TensorBoard images."""
    return [sys.executable, str(ROOT / "train.py"), "--model", "unet", "--data", str(data), "--image-size", "32", "32",
            "--epochs", str(epochs), "--batch-size", "4", "--augment", "none", "--tensorboard-images", "0", "--seed", "1",
            "--run-dir", str(run_dir), "--config", str(ROOT / "tests" / "tiny_unet.yaml")]


def _resume_command(run_dir):
    return [sys.executable, str(ROOT / "train.py"), "--resume", str(run_dir)]


def _wait_for_write(process, log, event, target, occurrence, timeout=300):
    """Waits until the write log shows the `occurrence`-th `event` (begin/end) of a path containing `target`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len([line for line in lines if line.startswith(f"{event} ") and target in line]) >= occurrence:
            return
        if process.poll() is not None:
            pytest.fail(f"the process ended before {event} {target} #{occurrence}: {process.stderr.read()[-2000:]}")
        time.sleep(0.02)
    pytest.fail(f"no {event} {target} #{occurrence} within {timeout} s")


def _history_epochs(run_dir):
    return pd.read_csv(run_dir / "history.csv")["epoch"].tolist()


# (what is being written, kill inside the write or just after it, which occurrence in that process, epochs the
# newest intact state holds afterwards). The first process is a new run; each later one is `--resume`.
KILL_POINTS = [
    ("backup/epoch-00001", "inside", 1, 0),  # the first state: nothing to resume from, so resume starts over
    ("best.keras", "inside", 1, 0),
    ("backup/epoch-", "after", 2, 2),  # between two writes
    ("history.csv", "inside", 1, 2),
    ("last.keras", "inside", 1, 2),
    ("backup/epoch-", "inside", 1, 2),  # the previous state stays until the new one is complete
    ("backup/epoch-", "after", 1, 3),
    ("export", "inside", 1, 4),  # training finished; the export was cut short
]


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_loses_nothing(small_data, tmp_path):
    """SIGKILL at 8 points (6 inside a write, slowed by TFSEG_WRITE_DELAY), each followed by --resume; then the
    run finishes with every epoch once in history.csv, best.keras loading, the export whole, no lock, no temporaries."""
    run_dir, log = tmp_path / "run", tmp_path / "writes.log"
    env = {**os.environ, WRITE_LOG_VARIABLE: str(log), WRITE_DELAY_VARIABLE: "0.4"}
    command, inside = _train_command(small_data, run_dir, epochs=4), 0
    for target, phase, occurrence, expected_epochs in KILL_POINTS:
        log.write_text("")
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _wait_for_write(process, log, "begin" if phase == "inside" else "end", target, occurrence)
        time.sleep(0.15 if phase == "inside" else 0.05)
        process.kill()
        process.wait()
        ends = [line for line in log.read_text().splitlines() if line.startswith("end ") and target in line]
        inside += phase == "inside" and len(ends) < occurrence  # the write had not finished when the kill landed
        assert completed_epochs(run_dir) == expected_epochs, f"after the kill in {phase} {target}"
        command = _resume_command(run_dir)
    assert inside == 6
    final = subprocess.run(command, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "is complete (4 of 4 epochs)" in final.stdout
    assert _history_epochs(run_dir) == [1, 2, 3, 4]
    float32_layers(keras.saving.load_model(run_dir / "best.keras"))  # exports are float32
    assert json.loads((run_dir / "export" / "model_card.json").read_text())["model"] == "unet"
    assert not (run_dir / ".lock").exists()
    leftovers = [p.name for folder in (run_dir, run_dir / "backup") for p in folder.iterdir() if ".partial-" in p.name]
    assert not leftovers and sorted(p.name for p in (run_dir / "backup").iterdir()) == ["epoch-00003", "epoch-00004"]


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_resume_with_damaged_files_falls_back_or_stops_and_changes_nothing(resumed_run, tmp_path, capsys):
    run_dir = shutil.copytree(resumed_run[0], tmp_path / "copy")
    states = run_dir / "backup"
    assert sorted(p.name for p in states.iterdir()) == ["epoch-00002", "epoch-00003"]
    (states / "epoch-00002" / "state.weights.h5").write_bytes(b"")  # zero bytes
    newest = states / "epoch-00003" / "state.weights.h5"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated
    before = _snapshot(run_dir)
    assert cli.train_main(["--resume", str(run_dir), "--epochs", "4"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no intact saved state" in error and "epoch-00003/state.weights.h5" in error
    assert _snapshot(run_dir) == before

    run_dir = shutil.copytree(resumed_run[0], tmp_path / "copy2")
    (run_dir / "backup" / "epoch-00003" / "state.json").unlink()  # a missing metadata file
    (run_dir / "last.keras").write_bytes(b"corrupt")  # resume does not need it; the next epoch rewrites it
    assert cli.train_main(["--resume", str(run_dir), "--epochs", "4"]) == 0
    out = capsys.readouterr().out
    assert "state of epoch 3 skipped" in out and "resuming after epoch 2 of 4" in out
    assert _history_epochs(run_dir) == [1, 2, 3, 4]
    keras.saving.load_model(run_dir / "last.keras")


@pytest.mark.slow
def test_sigterm_stops_after_the_epoch_and_resume_finishes(small_data, tmp_path):
    """SIGTERM mid-epoch: the epoch finishes and is saved, the process says how to resume and exits 143; a second
    signal exits at once; a live lock refuses a second process, a stale one is taken over."""
    run_dir, log, output = tmp_path / "run", tmp_path / "writes.log", tmp_path / "stdout.txt"
    env = {**os.environ, WRITE_LOG_VARIABLE: str(log), "PYTHONUNBUFFERED": "1"}
    with open(output, "w") as stdout:
        process = subprocess.Popen(_train_command(small_data, run_dir, epochs=4), env=env, stdout=stdout,
                                   stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while "Epoch 2/4" not in output.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)  # Keras has begun epoch 2
        _, stderr = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM
    assert f"stopped by SIGTERM after epoch 2 of 4, its state saved; continue with: python train.py --resume {run_dir}" in stderr
    assert _history_epochs(run_dir) == [1, 2] and completed_epochs(run_dir) == 2
    assert not (run_dir / ".lock").exists()

    (run_dir / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))  # a live owner
    refused = subprocess.run(_resume_command(run_dir), capture_output=True, text=True)
    assert refused.returncode == 2 and f"in use by process {os.getpid()} on this host" in refused.stderr
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (run_dir / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": int(gone.stdout)}))  # stale

    log.write_text("")
    process = subprocess.Popen(_resume_command(run_dir), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    _wait_for_write(process, log, "end", "history.csv", 1)  # epoch 3 under way to being saved
    process.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # the second one: exit at once
    process.communicate(timeout=300)
    assert process.returncode in (128 + signal.SIGTERM, -signal.SIGTERM)  # SystemExit, or killed once fit had ended
    assert completed_epochs(run_dir) in (2, 3)

    final = subprocess.run(_resume_command(run_dir), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr[-2000:]
    assert _history_epochs(run_dir) == [1, 2, 3, 4]
    assert not (run_dir / ".lock").exists()
