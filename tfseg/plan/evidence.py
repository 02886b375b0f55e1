"""A planned study: `tfseg auto` on each shared dataset at the budget its hand-tuned recipe
trained in, against that recipe's test scores (compare.py runs a study file with a
`planned:` list; configs/studies/planned.yaml).

Each entry of the file runs `tfseg auto` (`tfseg.plan.auto.run_auto`) into
`<out>/<name>/runs/<entry>/`, and, once done, adds its row to `<out>/<name>/results.csv`
and redraws `results.md`: the planned model's test scores (plain: threshold 0.5, no flips,
no post-processing; and as `tfseg auto` tuned it), the time it used, and the hand-tuned
recipe's scores and training time from its own study's results.csv. Entries with a row are
skipped, and an entry stopped midway resumes, as `tfseg auto` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tfseg.config import load_config, read_yaml
from tfseg.errors import TfsegError
from tfseg.evaluation.report import evaluate_run
from tfseg.files import append_rows, write_atomically
from tfseg.plan.auto import STATE_FILE, model_dirs, run_auto
from tfseg.plan.machine import this_machine
from tfseg.text import format_duration, parse_budget

ENTRY_KEYS = ("dataset", "budget", "folds", "hand_tuned")


@dataclass(frozen=True)
class Entry:
    """One planned run: a dataset, a budget, the folds (None: as `tfseg auto` decides) and the
    hand-tuned reference (`study`, its `runs`, and for an ensemble its `row`)."""

    dataset: str
    budget: str
    folds: int | None
    hand_tuned: dict[str, Any] | None

    @property
    def name(self) -> str:
        kind = "one-model" if self.folds == 1 else "auto"
        return f"{self.dataset}-{self.budget}-{kind}"


@dataclass(frozen=True)
class PlannedStudy:
    """A parsed planned study: its entries, where the datasets are and where it writes."""

    name: str
    description: str
    data_root: Path
    folder: Path
    studies: Path
    entries: list[Entry]

    @property
    def results_csv(self) -> Path:
        return self.folder / "results.csv"

    @property
    def results_md(self) -> Path:
        return self.folder / "results.md"


def is_planned_study(path: str | Path) -> bool:
    """Whether the study file at `path` is a planned study (it has a `planned:` list)."""
    raw = read_yaml(Path(path).read_text()) if Path(path).is_file() else None
    return isinstance(raw, dict) and "planned" in raw


def load_planned_study(path: str | Path, out_root: str | Path = "studies", data_root: str | Path | None = None) -> PlannedStudy:
    """Reads a planned study file: `name`, `description`, `data_root` (the folder of the
    datasets; `data_root` here, e.g. compare.py --data, replaces it) and `planned`, a list of
    entries with `dataset`, `budget`, `folds` (optional) and `hand_tuned`."""
    path = Path(path)
    raw = read_yaml(path.read_text())
    unknown = set(raw) - {"name", "description", "data_root", "planned"}
    if unknown:
        raise TfsegError(f"{path}: unknown key(s) {sorted(unknown)}; a planned study has name, description, "
                         "data_root and planned")
    entries = []
    for index, item in enumerate(raw["planned"] or []):
        if not isinstance(item, dict) or "dataset" not in item or "budget" not in item or set(item) - set(ENTRY_KEYS):
            raise TfsegError(f"{path}: planned[{index}]: expected a mapping of dataset, budget, folds (optional) and "
                             f"hand_tuned (optional), got {item!r}")
        parse_budget(str(item["budget"]))
        entries.append(Entry(item["dataset"], str(item["budget"]), item.get("folds"), item.get("hand_tuned")))
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise TfsegError(f"{path}: two entries of the same dataset, budget and kind")
    name = raw.get("name") or path.stem
    root = Path(data_root if data_root is not None else raw.get("data_root", "."))
    return PlannedStudy(name, raw.get("description", ""), root, Path(out_root) / name, Path(out_root), entries)


def hand_tuned_scores(study: PlannedStudy, entry: Entry) -> dict[str, Any]:
    """The hand-tuned reference of `entry`: its test IoU and Dice (one `row`, or the mean and
    std over `runs`) and its training time (the mean over `runs` of epochs x seconds per
    epoch, or their sum for an ensemble `row`), from its study's results.csv."""
    if not entry.hand_tuned:
        return {}
    reference = entry.hand_tuned
    table = pd.read_csv(study.studies / reference["study"] / "results.csv").set_index("cell")
    runs = table.loc[reference["runs"]]
    seconds = runs["epochs"] * runs["seconds_per_epoch"]
    scores = table.loc[[reference["row"]]] if "row" in reference else runs
    return {
        "hand_study": reference["study"], "hand_rows": reference.get("row") or "+".join(reference["runs"]),
        "hand_test_iou": scores["test_iou"].mean(), "hand_test_iou_std": scores["test_iou"].std() if len(scores) > 1 else None,
        "hand_test_dice": scores["test_dice"].mean(),
        "hand_seconds": seconds.sum() if "row" in reference else seconds.mean(),
    }


def entry_row(study: PlannedStudy, entry: Entry, out: Path, summary: dict) -> dict[str, Any]:
    """The results row of a finished entry: its tuned and plain test scores, time and reference."""
    state = json.loads((out / STATE_FILE).read_text())
    runs = model_dirs(out)
    plain = evaluate_run(runs[0], split="test", ensemble=runs[1:], out_dir=out / "test-plain")
    return {
        "cell": entry.name, "dataset": entry.dataset, "budget": entry.budget, "models": len(runs),
        "used_seconds": state["used_seconds"], "machine": this_machine().describe(),
        "test_iou_plain": plain["scores"]["iou"]["mean"], "test_dice_plain": plain["scores"]["dice"]["mean"],
        "test_iou": summary["scores"]["iou"]["mean"], "test_dice": summary["scores"]["dice"]["mean"],
        "choices": f"flips {summary['tta']}, threshold {summary['threshold']:g}, {summary['postprocess']}",
        **hand_tuned_scores(study, entry),
    }


def planned_table(study: PlannedStudy) -> list[str]:
    """The lines of the Markdown table: one row per finished entry, planned against hand-tuned."""
    lines = ["| dataset | planned | budget (hand-tuned training time) | time used | test IoU, plain | test IoU, tuned "
             "| test Dice, tuned | hand-tuned | its test IoU | planned − hand-tuned |",
             "|---|---|---|---:|---:|---:|---:|---|---:|---:|"]
    table = pd.read_csv(study.results_csv) if study.results_csv.is_file() else pd.DataFrame()
    for row in table.to_dict(orient="records"):
        hand = row.get("hand_study")
        hand_iou = (f"{row['hand_test_iou']:.4f}" + (f" ± {row['hand_test_iou_std']:.4f}"
                                                    if pd.notna(row.get("hand_test_iou_std")) else "")) if pd.notna(hand) else "—"
        hand_time = f" ({format_duration(row['hand_seconds'])})" if pd.notna(hand) else ""
        difference = f"{row['test_iou'] - row['hand_test_iou']:+.4f}" if pd.notna(hand) else "—"
        reference = f"{hand} {row['hand_rows']}" if pd.notna(hand) else "—"
        planned = f"{row['models']} model{'s' if row['models'] > 1 else ''}; {row['choices']}"
        lines.append(f"| {row['dataset']} | {planned} | {row['budget']}{hand_time} | {format_duration(row['used_seconds'])} "
                     f"| {row['test_iou_plain']:.4f} | {row['test_iou']:.4f} | {row['test_dice']:.4f} "
                     f"| {reference} | {hand_iou} | {difference} |")
    return lines


def published_table(source: Path, out_root: Path) -> list[str] | None:
    """A planned study's table for a block `compare.py --publish` rewrites, or None when
    `source` is not a planned study (`tfseg.study.publish`'s `other_tables`)."""
    if not is_planned_study(source):
        return None
    study = load_planned_study(source, out_root)
    if not study.results_csv.is_file():
        raise TfsegError(f"{study.results_csv} does not exist; run the study first")
    return planned_table(study)


def render_planned(study: PlannedStudy) -> str:
    """results.md: the study's name, description, table (`planned_table`) and machine."""
    table = pd.read_csv(study.results_csv) if study.results_csv.is_file() else pd.DataFrame()
    machines = sorted(set(table["machine"])) if len(table) else []
    lines = [f"# {study.name}", "", study.description.strip(), "", *planned_table(study), "",
             f"Machine: {'; '.join(machines) or '—'}. Budgets are for all of `tfseg auto` (planning, training, "
             "choosing, testing, export); the hand-tuned times are training alone (epochs × seconds per epoch in its "
             "study's results.csv)."]
    return "\n".join(lines) + "\n"


def describe_planned(study: PlannedStudy) -> str:
    """One line per entry: its name and state (done, started, to run)."""
    done = set(pd.read_csv(study.results_csv)["cell"]) if study.results_csv.is_file() else set()
    lines = []
    for entry in study.entries:
        out = study.folder / "runs" / entry.name
        state = "done" if entry.name in done else (
            f"started: {', '.join(json.loads((out / STATE_FILE).read_text())['stages']) or 'nothing'} done"
            if (out / STATE_FILE).is_file() else "to run")
        lines.append(f"{entry.name:<40}{state}")
    return "\n".join(lines)


def run_planned_study(study: PlannedStudy) -> pd.DataFrame:
    """Runs (or resumes) every entry without a row, one after the other, adding its row and
    redrawing results.md as each finishes."""
    study.folder.mkdir(parents=True, exist_ok=True)
    done = set(pd.read_csv(study.results_csv)["cell"]) if study.results_csv.is_file() else set()
    todo = [entry for entry in study.entries if entry.name not in done]
    print(f"tfseg: planned study {study.name}: {len(study.entries)} entries, {len(todo)} to run, results in {study.folder}")
    for entry in todo:
        out = study.folder / "runs" / entry.name
        print(f"tfseg: {entry.name}: tfseg auto {study.data_root / entry.dataset} --budget {entry.budget}"
              + (f" --folds {entry.folds}" if entry.folds else "") + f" --out {out}", flush=True)
        data = load_config(None, {"data.dir": str(study.data_root / entry.dataset)})
        summary = run_auto(data, parse_budget(entry.budget), out, entry.folds)
        append_rows(study.results_csv, pd.DataFrame([entry_row(study, entry, out, summary)]), entry.name)
        write_atomically(study.results_md, render_planned(study))
    return pd.read_csv(study.results_csv)
