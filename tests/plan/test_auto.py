"""`tfseg auto`: the fold decision, the choice of threshold and post-processing on validation
predictions, the ensemble model, the state a stopped run resumes from, and the whole way
end to end, killed and resumed."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tfseg.config import load_config
from tfseg.errors import TfsegError
from tfseg.plan.auto import choose_folds, choose_postprocessing, ensemble_model, mean_dice, open_state

from tests.plan.conftest import CPU, fixed_timing, make_fingerprint

ROOT = Path(__file__).resolve().parents[2]


def disc(size=32, radius=8):
    rows, columns = np.mgrid[:size, :size]
    return ((rows - size / 2) ** 2 + (columns - size / 2) ** 2 < radius**2).astype(np.uint8)


def test_folds_when_a_fold_share_affords_a_full_model_else_one():
    fingerprint = make_fingerprint()
    assert choose_folds(fingerprint, 10 * 3600, CPU, fixed_timing, None, {}).settings()["data.folds"].value == 5
    one = choose_folds(fingerprint, 600, CPU, fixed_timing, None, {}).settings()
    assert one["data.folds"].value == 0 and one["data.folds"].reason.startswith("one model: a fifth of the budget")
    assert choose_folds(fingerprint, 600, CPU, fixed_timing, 3, {}).settings()["data.folds"].value == 3


def test_a_post_processing_is_chosen_only_where_it_raises_the_validation_dice():
    truth = disc()
    speckled = truth.astype(np.float32) * 0.9
    speckled[2:4, 2:4] = 0.95  # a false speck of 4 px, surer than the disc: no threshold removes it
    probabilities, truths = [speckled[..., None]] * 3, [truth] * 3
    tried = choose_postprocessing(probabilities, truths, ["none", "largest-component", "remove-small=5"])
    best = tried.iloc[int(np.argmax(tried["dice"]))]
    assert best["postprocess"] == "largest-component" and best["dice"] == 1.0
    assert tried.iloc[0].to_dict() == {"threshold": 0.5, "postprocess": "none", "dice": mean_dice(probabilities, truths, 0.5, "none")}

    clean = [truth.astype(np.float32)[..., None] * 0.9] * 3
    tried = choose_postprocessing(clean, truths, ["none", "largest-component"])
    assert tried.iloc[int(np.argmax(tried["dice"]))][["threshold", "postprocess"]].tolist() == [0.5, "none"]


def test_the_threshold_is_tuned_for_binary_masks_only():
    truth = disc()
    faint = [np.where(truth > 0, 0.3, 0.05).astype(np.float32)[..., None]] * 2
    tried = choose_postprocessing(faint, [truth] * 2, ["none"])
    best = tried.iloc[int(np.argmax(tried["dice"]))]
    assert best["threshold"] < 0.3 and best["dice"] == 1.0
    labels = np.stack([1 - truth, truth, np.zeros_like(truth)], axis=-1).astype(np.float32)
    tried = choose_postprocessing([labels], [truth], ["none", "fill-holes"])
    assert set(tried["threshold"]) == {0.5}


def test_the_ensemble_model_is_the_mean_of_its_members(tmp_path):
    from tfseg.run import RunDir

    runs = []
    for index, value in enumerate((0.2, 0.6)):
        inputs = keras.Input((8, 8, 1))
        outputs = keras.layers.Conv2D(1, 1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(value),
                                      name="head")(inputs)
        run = RunDir(tmp_path / f"run{index}")
        run.path.mkdir()
        keras.Model(inputs, outputs, name="unet").save(run.best)
        runs.append(run.path)
    ensemble = ensemble_model(runs)
    np.testing.assert_allclose(ensemble.predict(np.zeros((1, 8, 8, 1), np.float32), verbose=0), 0.4, rtol=1e-6)
    assert [layer.name for layer in ensemble.layers[1:]] == ["member_0", "member_1", "mean"]


def test_a_resumed_run_must_be_asked_the_same(tiny_dataset, tmp_path):
    data = load_config(None, {"data.dir": str(tiny_dataset)})
    state = open_state(tmp_path / "auto", data, 600, None)
    state.used_before = 5.0  # an earlier attempt's time
    state.finish("plan", folds=0)
    again = open_state(tmp_path / "auto", data, 600, None)
    saved = json.loads((tmp_path / "auto" / "auto.json").read_text())["used_seconds"]
    assert again.done("plan") and again.used_before == saved >= 5.0 and again.used() >= saved
    with pytest.raises(TfsegError, match=r"^--out .*auto: a tfseg auto run asked for other budget_seconds \(budget_seconds=600"):
        open_state(tmp_path / "auto", data, 900, None)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(TfsegError, match="not empty and no auto.json in it"):
        open_state(tmp_path / "other", data, 600, None)


IN_THIS_TREE = {**os.environ, "PYTHONPATH": str(ROOT)}
"""A subprocess's environment that imports this tree's tfseg from any folder."""


def _auto(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "tfseg", "auto", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=cwd, env=IN_THIS_TREE)


@pytest.mark.slow
def test_tfseg_auto_runs_the_whole_way_killed_and_resumed(tiny_dataset, tmp_path):
    out = tmp_path / "auto"
    # 40 s: a few short epochs a fold (the plan's MIN_EPOCHS of fewer steps); enough for a kill after an epoch
    args = (tiny_dataset, "--budget", "40s", "--folds", "2", "--out", out)
    first = _auto(*args, cwd=tmp_path)
    seen = []
    for line in first.stdout:
        seen.append(line)
        if "fold-1 (2 of 2): epoch 1 done" in line:
            first.send_signal(signal.SIGKILL)
            break
    first.wait()
    assert first.returncode == -signal.SIGKILL, "".join(seen)[-3000:]
    state = json.loads((out / "auto.json").read_text())
    assert list(state["stages"]) == ["plan", "fold-0"] and state["used_seconds"] > 0

    second = _auto(*args, cwd=tmp_path)
    printed = second.communicate()[0]
    assert second.returncode == 0, printed[-3000:]
    assert "tfseg auto: resuming" in printed and "done plan, fold-0" in printed
    state = json.loads((out / "auto.json").read_text())
    assert list(state["stages"]) == ["plan", "fold-0", "fold-1", "tune", "test", "export"]
    summary = json.loads((out / "test" / "summary.json").read_text())
    tune = state["stages"]["tune"]
    assert summary["ensemble"] == [str(out / "models" / "fold-1")] and summary["images"] == 4
    assert summary["tta"] == tune["tta"] and summary["threshold"] == tune["threshold"]
    assert summary["postprocess"] == tune["postprocess"] and tune["val_dice"] >= tune["val_dice_plain"]
    assert f"test IoU {summary['scores']['iou']['mean']:.4f}" in printed
    card = json.loads((out / "model" / "model_card.json").read_text())
    assert (card["threshold"], card["postprocess"], card["tta"]) == (tune["threshold"], tune["postprocess"], tune["tta"])
    assert load_config(out / "plan.yaml").data.folds == 2

    predicted = subprocess.run([sys.executable, "-m", "tfseg", "predict", str(out / "model"),
                                str(tiny_dataset / "images"), "--out", str(tmp_path / "masks")],
                               capture_output=True, text=True, env=IN_THIS_TREE)
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert len(list((tmp_path / "masks" / "masks").glob("*.png"))) == 24
