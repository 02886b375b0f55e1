"""`tfseg auto DATA --budget 2h --out DIR`: the whole way from a dataset to a tested, exported
model within a time budget.

Stages, each done once and recorded in `DIR/auto.json` as it finishes, so a stopped (even
killed) run started again with the same command goes on from where it stopped; a model
whose training was cut off resumes from its last saved epoch:

1. `plan`: the fingerprint and the plan (`tfseg.plan`), with k-fold cross-validation when
   each fold's share of the budget affords a full model (`choose_folds`), into `DIR/plan.yaml`.
2. `model-<i>`: each fold's model (or the one model) trained into `DIR/models/<i>/`; an epoch
   that would end past the model's share of the budget is not started.
3. `tune`: test-time flips, threshold and post-processing chosen on the validation
   predictions (each fold's model on the images it did not train on), each kept only where
   it raises their mean Dice (`DIR/tuning.csv`).
4. `test`: the models' mean probability, with those choices, scored on the test split
   (`DIR/test/summary.json`, as `tfseg evaluate` writes it).
5. `export`: that ensemble as one SavedModel whose model card carries the choices
   (`DIR/model/`, for `tfseg predict DIR/model IMAGES`).

Time used counts every attempt's time (saved at each stage and epoch), not the time between them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import pandas as pd

from tfseg.config import Config, load_config
from tfseg.data import fingerprint, load_table, read_class_names, resolve_data_dir, split_rows
from tfseg.errors import TfsegError
from tfseg.evaluation.report import THRESHOLD_GRID, evaluate_run, predict_members, truth_labels
from tfseg.evaluation.scores import dice_score
from tfseg.export.card import model_card
from tfseg.export.folder import export_model
from tfseg.export.loading import load_run_model
from tfseg.files import write_atomically
from tfseg.inference import postprocess, probabilities_to_labels
from tfseg.models import final_head
from tfseg.plan.machine import Machine, StepTiming, this_machine
from tfseg.plan.planner import Choice, Plan, plan
from tfseg.plan.rules import MIN_SAMPLES, RESERVED_SHARE
from tfseg.run import read_config
from tfseg.run_state import completed_epochs
from tfseg.text import format_duration
from tfseg.training import resume_run, train

STATE_FILE = "auto.json"
FOLDS = 5
"""Folds of the cross-validation when the budget affords them (nnU-Net's five)."""
TTA_CANDIDATES = ("none", "flip")


@dataclass
class AutoState:
    """`DIR/auto.json`: what a `tfseg auto` run was asked, what it has done and the time it used."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    attempt_started: float = field(default_factory=time.monotonic)
    used_before: float = 0.0

    def used(self) -> float:
        """Seconds used by every attempt, this one until now included."""
        return self.used_before + time.monotonic() - self.attempt_started

    def save(self) -> None:
        self.values["used_seconds"] = round(self.used(), 1)
        write_atomically(self.path, json.dumps(self.values, indent=2) + "\n")

    def done(self, stage: str) -> bool:
        return stage in self.values["stages"]

    def finish(self, stage: str, **record: Any) -> None:
        """Records `stage` as done (with `record`) and saves."""
        self.values["stages"][stage] = {"used_seconds": round(self.used(), 1), **record}
        self.save()

    def progress(self, what: str) -> None:
        """The progress line: what is under way, the time used and the time left."""
        budget = self.values["budget_seconds"]
        print(f"tfseg auto: {what} — {format_duration(self.used())} used of {format_duration(budget)}, "
              f"{format_duration(max(0.0, budget - self.used()))} left", flush=True)


def open_state(out: Path, data: Config, budget_seconds: float, folds: int | None) -> AutoState:
    """The state of `tfseg auto` in `out`: new, or the one a stopped run left, which must have
    been asked the same (dataset, reading options, budget, folds)."""
    asked = {"dataset": os.path.realpath(resolve_data_dir(data.data)), "budget_seconds": budget_seconds,
             "folds_asked": folds, "reading": {key: value for key, value in data.to_dict()["data"].items()
                                                 if key in ("classes", "mask_threshold", "mask_suffix", "val_fraction",
                                                            "test_fraction", "stratify")},
             "seed": data.train.seed}
    path = out / STATE_FILE
    if not path.is_file():
        if out.is_dir() and any(out.iterdir()):
            raise TfsegError(f"--out {out}: not empty and no {STATE_FILE} in it; expected a new folder or a tfseg auto one")
        out.mkdir(parents=True, exist_ok=True)
        state = AutoState(path, {**asked, "used_seconds": 0.0, "stages": {}})
        state.save()
        return state
    values = json.loads(path.read_text())
    changed = [key for key in asked if values.get(key) != asked[key]]
    if changed:
        raise TfsegError(f"--out {out}: a tfseg auto run asked for other {', '.join(changed)} "
                         f"({', '.join(f'{key}={values.get(key)!r}' for key in changed)}); use another folder")
    return AutoState(path, values, used_before=float(values.get("used_seconds", 0.0)))


def _memoised(time_steps: Callable[[Config], StepTiming]) -> Callable[[Config], StepTiming]:
    """`time_steps` timing each config once (the same planned model for several budgets)."""
    timings: dict[str, StepTiming] = {}

    def timed(config: Config) -> StepTiming:
        key = json.dumps(config.to_dict(), sort_keys=True, default=str)
        if key not in timings:
            timings[key] = time_steps(config)
        return timings[key]

    return timed


def _samples(planned: Plan) -> int:
    """Training samples (images or patches) the plan's model sees."""
    settings = {key: choice.value for key, choice in planned.settings().items()}
    return settings["train.epochs"] * settings["train.steps_per_epoch"] * settings["train.batch_size"]


def choose_folds(fingerprint_: dict, seconds: float, machine: Machine, time_steps: Callable[[Config], StepTiming],
                 folds: int | None, given: dict[str, Any]) -> Plan:
    """The plan of each model: FOLDS-fold cross-validation when each fold's share of `seconds`
    affords MIN_SAMPLES training samples (the plan's bar for a size), else one model with
    all of it; `folds` (0 or 1: one model, k >= 2: k folds) decides instead when given.
    The choice is the plan's `data.folds`, with its reason."""
    if folds is not None:
        count = folds if folds >= 2 else 1
        planned = plan(fingerprint_, seconds / count, machine, time_steps, given)
        reason = f"--folds {folds}: " + (f"{count}-fold cross-validation" if count > 1 else "one model")
    else:
        planned = plan(fingerprint_, seconds / FOLDS, machine, time_steps, given)
        samples = _samples(planned)
        count = FOLDS if samples >= MIN_SAMPLES else 1
        if count == 1:
            planned = plan(fingerprint_, seconds, machine, time_steps, given)
        reason = (f"{FOLDS}-fold cross-validation and the folds' ensemble: each fold's fifth of the budget affords "
                  f"{samples} training samples (at least {MIN_SAMPLES})" if count > 1 else
                  f"one model: a fifth of the budget affords {FOLDS}-fold models only {samples} training samples each "
                  f"(fewer than {MIN_SAMPLES})")
    planned.choices.append(Choice("data.folds", count if count > 1 else 0, reason, "folds"))
    return planned


def _plan_stage(state: AutoState, out: Path, data: Config, folds: int | None, machine: Machine,
                time_steps: Callable[[Config], StepTiming]) -> None:
    state.progress("fingerprint and plan")
    given = {key: value for key, value in (
        ("data.classes", data.data.classes), ("data.mask_threshold", data.data.mask_threshold),
        ("train.seed", data.train.seed)) if key in data.sources}
    dataset = fingerprint(data)
    planned = choose_folds(dataset, state.values["budget_seconds"] - state.used(), machine, _memoised(time_steps),
                           folds, given)
    print(planned.table(), flush=True)
    planned.save(out / "plan.yaml")
    state.finish("plan", folds=planned.settings()["data.folds"].value,
                 postprocessing=postprocessing_candidates(dataset))


def model_names(state: AutoState) -> list[str]:
    """The models' folder names under DIR/models: `fold-0`..`fold-<k-1>`, or `model`."""
    folds = state.values["stages"]["plan"]["folds"]
    return [f"fold-{index}" for index in range(folds)] if folds else ["model"]


def run_dirs_of(state: AutoState, out: Path) -> list[Path]:
    """The run folders of the models, `out/models/<name>` (`model_names`)."""
    return [out / "models" / name for name in model_names(state)]


def model_dirs(out: str | Path) -> list[Path]:
    """The run folders of the models of the `tfseg auto` run in `out` (planned already)."""
    return run_dirs_of(AutoState(Path(out) / STATE_FILE, json.loads((Path(out) / STATE_FILE).read_text())), Path(out))


class ShareOfBudget(keras.callbacks.Callback):
    """Ends a model's training after an epoch when more than half of the next one would fall
    past `until` seconds of the budget used (so a model overruns its share by at most half an
    epoch); saves the time used and prints the progress line after each epoch."""

    def __init__(self, state: AutoState, until: float, what: str) -> None:
        super().__init__()
        self.state, self.until, self.what = state, until, what
        self.longest = 0.0
        self.started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.longest = max(self.longest, time.monotonic() - self.started)
        self.state.save()
        self.state.progress(f"{self.what}: epoch {epoch + 1} done")
        if epoch + 1 < self.params.get("epochs", 0) and self.state.used() + self.longest / 2 > self.until:
            print(f"tfseg auto: {self.what}: stopping, the next epoch would pass its share of the budget "
                  f"({format_duration(self.until)} used)", flush=True)
            self.model.stop_training = True


def _train_stage(state: AutoState, out: Path, index: int, name: str) -> None:
    names = model_names(state)
    run_dir = out / "models" / name
    planned_used = state.values["stages"]["plan"]["used_seconds"]
    share = (state.values["budget_seconds"] - planned_used) * (1 - RESERVED_SHARE) / len(names)
    what = f"{name} ({index + 1} of {len(names)})"
    state.progress(f"training {what}")
    deadline = ShareOfBudget(state, planned_used + share * (index + 1), what)
    if (run_dir / "config.yaml").is_file():
        resume_run(run_dir, callbacks=[deadline])
    else:
        overrides = {"train.run_dir": str(run_dir)}
        if name.startswith("fold-"):
            overrides["data.fold"] = index
        train(load_config(out / "plan.yaml", overrides), callbacks=[deadline])
    state.finish(name, epochs=completed_epochs(run_dir))


def _validation_predictions(run_dirs: list[Path], tta: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each model's probabilities on its own validation images (its fold's, which it did not
    train on), and their reference labels."""
    probabilities, truths = [], []
    for run_dir in run_dirs:
        config = read_config(run_dir)
        config.data.dir = str(resolve_data_dir(config.data))
        rows = split_rows(load_table(config.data, config.train.seed), "val")
        probabilities += predict_members([(load_run_model(run_dir), config)], rows, tta, progress=False)
        truths += [truth_labels(config, path) for path in rows["mask_path"]]
    return probabilities, truths


def mean_dice(probabilities: list[np.ndarray], truths: list[np.ndarray], threshold: float, method: str) -> float:
    """Mean Dice over images of the thresholded (arg-max for K classes), post-processed probabilities."""
    classes = probabilities[0].shape[-1]
    return float(np.mean([dice_score(postprocess(probabilities_to_labels(p, threshold), method), truth, classes)
                          for p, truth in zip(probabilities, truths)]))


def postprocessing_candidates(fingerprint_: dict) -> list[str]:
    """Post-processings tried: none, the largest component per class, holes filled, objects
    below a quarter of the smallest class's 10th-percentile object size removed, and the
    combinations of the two last with the first ones."""
    sizes = [entry["object_size"]["pixels"]["percentile_10"] for entry in fingerprint_["classes"] if entry["objects"]]
    small = max(1, int(min(sizes) / 4)) if sizes else 1
    return ["none", "largest-component", "fill-holes", f"remove-small={small}",
            "largest-component+fill-holes", f"remove-small={small}+fill-holes"]


def choose_postprocessing(probabilities: list[np.ndarray], truths: list[np.ndarray],
                          candidates: list[str]) -> pd.DataFrame:
    """Mean Dice of each candidate post-processing (at the threshold best without one; binary),
    then of the best candidate over the threshold grid: one row per (threshold, postprocess)
    tried, in order."""
    binary = probabilities[0].shape[-1] == 1
    rows = [{"threshold": 0.5, "postprocess": "none", "dice": mean_dice(probabilities, truths, 0.5, "none")}]
    if binary:
        rows += [{"threshold": float(t), "postprocess": "none", "dice": mean_dice(probabilities, truths, t, "none")}
                 for t in THRESHOLD_GRID if t != 0.5]
    threshold = max(rows, key=lambda row: row["dice"])["threshold"]
    rows += [{"threshold": threshold, "postprocess": method, "dice": mean_dice(probabilities, truths, threshold, method)}
             for method in candidates if method != "none"]
    best = max(rows, key=lambda row: row["dice"])["postprocess"]
    if binary and best != "none":
        rows += [{"threshold": float(t), "postprocess": best, "dice": mean_dice(probabilities, truths, t, best)}
                 for t in THRESHOLD_GRID if t != threshold]
    return pd.DataFrame(rows)


def _tune_stage(state: AutoState, out: Path) -> None:
    state.progress("choosing flips, threshold and post-processing on the validation predictions")
    run_dirs = run_dirs_of(state, out)
    candidates = state.values["stages"]["plan"]["postprocessing"]
    tables = []
    for tta in TTA_CANDIDATES:
        probabilities, truths = _validation_predictions(run_dirs, tta)
        tables.append(choose_postprocessing(probabilities, truths, candidates).assign(tta=tta))
    tried = pd.concat(tables, ignore_index=True)[["tta", "threshold", "postprocess", "dice"]]
    write_atomically(out / "tuning.csv", tried.to_csv(index=False, float_format="%.6f"))
    best = tried.iloc[int(np.argmax(tried["dice"].to_numpy()))]  # the first of equals: the plainest
    baseline = float(tried["dice"].iloc[0])
    choice = {"tta": best["tta"], "threshold": float(best["threshold"]), "postprocess": best["postprocess"],
              "val_dice": float(best["dice"]), "val_dice_plain": baseline, "images": len(truths)}
    print(f"tfseg auto: on {len(truths)} validation images of {len(run_dirs)} model(s): mean Dice {baseline:.4f} plain (threshold 0.5, "
          f"no flips, no post-processing), {choice['val_dice']:.4f} with flips {choice['tta']}, threshold "
          f"{choice['threshold']:g}, post-processing {choice['postprocess']}", flush=True)
    state.finish("tune", **choice)


def _test_stage(state: AutoState, out: Path) -> dict:
    state.progress("scoring the ensemble on the test split")
    choice = state.values["stages"]["tune"]
    run_dirs = run_dirs_of(state, out)
    summary = evaluate_run(run_dirs[0], split="test", tta=choice["tta"], threshold=choice["threshold"],
                           postprocess_method=choice["postprocess"], ensemble=run_dirs[1:], out_dir=out / "test")
    state.finish("test", **{score: summary["scores"][score]["mean"] for score in ("iou", "dice")})
    return summary


def ensemble_model(run_dirs: list[Path]) -> keras.Model:
    """One float32 Keras model whose output is the mean of the runs' best models' last heads."""
    members = []
    for index, run_dir in enumerate(run_dirs):
        member = final_head(load_run_model(run_dir))
        member.name = f"member_{index}"
        members.append(member)
    if len(members) == 1:
        return members[0]
    inputs = keras.Input(members[0].input_shape[1:], name="image")
    return keras.Model(inputs, keras.layers.Average(name="mean")([member(inputs) for member in members]),
                       name="ensemble")


def _export_stage(state: AutoState, out: Path) -> None:
    state.progress("exporting the ensemble")
    choice = state.values["stages"]["tune"]
    run_dirs = run_dirs_of(state, out)
    config = read_config(run_dirs[0])
    config.data.folds = config.data.fold = 0
    class_names = read_class_names(resolve_data_dir(config.data), config.data.classes)
    how = (f"tfseg auto: the mean Dice of {len(run_dirs)} model(s) on their validation images, "
           f"{choice['val_dice_plain']:.4f} at 0.5 → {choice['val_dice']:.4f}")
    card = model_card(config, "val_dice", choice["val_dice"], None, choice["threshold"], how, class_names,
                      postprocess=choice["postprocess"], tta=choice["tta"])
    card["ensemble"] = [str(run_dir.relative_to(out)) for run_dir in run_dirs]
    export_model(ensemble_model(run_dirs), out / "model", card, config.train.export,
                 onnx_batch=config.train.export_batch or None)
    state.finish("export")


def run_auto(data: Config, budget_seconds: float, out: str | Path, folds: int | None = None,
             machine: Machine | None = None, time_steps: Callable[[Config], StepTiming] | None = None) -> dict:
    """Runs (or resumes) `tfseg auto`: plan, train, tune, test, export (see the module's text).

    Args:
        data: Config. The dataset and how it is read (its data options; the plan decides the rest).
        budget_seconds: float. The time for all of it.
        out: str or Path. The folder of the run: new, or one a stopped `tfseg auto` left.
        folds: int or None. None: FOLDS-fold cross-validation when the budget affords it;
            0 or 1: one model; k >= 2: k folds.
        machine: Machine or None. None: `this_machine()`.
        time_steps: callable or None. As in `tfseg.plan.plan`.

    Returns:
        The test split's summary (`DIR/test/summary.json`).
    """
    out = Path(out)
    state = open_state(out, data, budget_seconds, folds)
    if state.values["stages"]:
        state.progress(f"resuming {out}: done {', '.join(state.values['stages'])}")
    if not state.done("plan"):
        if time_steps is None:
            from tfseg.plan.timing import time_training_steps

            time_steps = time_training_steps
        _plan_stage(state, out, data, folds, machine or this_machine(), time_steps)
    for index, name in enumerate(model_names(state)):
        if not state.done(name):
            _train_stage(state, out, index, name)
    if not state.done("tune"):
        _tune_stage(state, out)
    if not state.done("test"):
        _test_stage(state, out)
    if not state.done("export"):
        _export_stage(state, out)
    summary = json.loads((out / "test" / "summary.json").read_text())
    budget, used = state.values["budget_seconds"], state.used()
    print(f"tfseg auto: done in {format_duration(used)} of a {format_duration(budget)} budget "
          f"({used / budget:.0%}): test IoU {summary['scores']['iou']['mean']:.4f}, Dice "
          f"{summary['scores']['dice']['mean']:.4f} ({summary['images']} images)\n"
          f"  plan {out / 'plan.yaml'}, models {out / 'models'}, choices {out / 'tuning.csv'}, "
          f"test {out / 'test'}, model {out / 'model'} (tfseg predict {out / 'model'} IMAGES)", flush=True)
    return summary
