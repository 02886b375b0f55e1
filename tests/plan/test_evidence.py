"""The planned study (compare.py on a study file with `planned:`): its file, its table against the
hand-tuned study's results.csv, and one entry run end to end through compare.py."""

from pathlib import Path

import pandas as pd
import pytest

from tfseg.errors import TfsegError
from tfseg.plan.evidence import hand_tuned_scores, is_planned_study, load_planned_study

ROOT = Path(__file__).resolve().parents[2]


def hand_study(studies: Path) -> None:
    """A hand-tuned study's results.csv: two seeds and their ensemble."""
    (studies / "hand").mkdir(parents=True)
    pd.DataFrame({"cell": ["unet-s1", "unet-s2", "unet-ensemble-flip"], "epochs": [10, 10, None],
                  "seconds_per_epoch": [3.0, 6.0, None], "test_iou": [0.80, 0.84, 0.86],
                  "test_dice": [0.88, 0.90, 0.92]}).to_csv(studies / "hand" / "results.csv", index=False)


def write_study(folder: Path, data_root: Path, entries: str) -> Path:
    path = folder / "planned.yaml"
    path.write_text(f"name: planned\ndescription: tiny\ndata_root: {data_root}\nplanned:\n{entries}")
    return path


def test_the_shipped_planned_study_reads_and_names_its_hand_tuned_rows():
    path = ROOT / "configs" / "studies" / "planned.yaml"
    assert is_planned_study(path) and not is_planned_study(ROOT / "configs" / "studies" / "ph2_best.yaml")
    study = load_planned_study(path, ROOT / "studies")
    assert {entry.dataset for entry in study.entries} == {"ph2-skin", "jsrt-multiclass", "lung-cxr", "isbi-em"}
    for entry in study.entries:
        if entry.hand_tuned:
            reference = hand_tuned_scores(study, entry)
            assert 0.85 < reference["hand_test_iou"] < 0.95 and reference["hand_seconds"] > 0


def test_the_hand_tuned_reference_is_the_seeds_mean_or_the_ensemble_row(tmp_path):
    hand_study(tmp_path / "studies")
    study = load_planned_study(write_study(tmp_path, tmp_path, (
        "  - {dataset: tiny, budget: 1m, folds: 1, hand_tuned: {study: hand, runs: [unet-s1, unet-s2]}}\n"
        "  - {dataset: tiny, budget: 2m, hand_tuned: {study: hand, runs: [unet-s1, unet-s2], row: unet-ensemble-flip}}\n")),
        tmp_path / "studies")
    single, ensemble = (hand_tuned_scores(study, entry) for entry in study.entries)
    assert single["hand_test_iou"] == pytest.approx(0.82) and single["hand_seconds"] == 45
    assert single["hand_test_iou_std"] == pytest.approx(0.0283, abs=1e-4)
    assert ensemble["hand_test_iou"] == 0.86 and ensemble["hand_seconds"] == 90 and ensemble["hand_test_iou_std"] is None
    assert [entry.name for entry in study.entries] == ["tiny-1m-one-model", "tiny-2m-auto"]


@pytest.mark.parametrize("entries, message", [
    ("  - {dataset: tiny}\n", r"planned\[0\]: expected a mapping of dataset, budget"),
    ("  - {dataset: tiny, budget: 5x}\n", "--budget '5x': expected a duration"),
    ("  - {dataset: tiny, budget: 1m, seeds: 3}\n", r"planned\[0\]: expected a mapping"),
    ("  - {dataset: tiny, budget: 1m}\n  - {dataset: tiny, budget: 1m}\n", "two entries of the same dataset"),
])
def test_a_bad_planned_study_is_one_line_naming_the_entry(tmp_path, entries, message):
    with pytest.raises(TfsegError, match=message):
        load_planned_study(write_study(tmp_path, tmp_path, entries))


@pytest.mark.slow
def test_compare_runs_a_planned_study_entry_and_tabulates_it(tiny_dataset, tmp_path, capsys):
    from tfseg.cli import compare_main

    hand_study(tmp_path / "studies")
    path = write_study(tmp_path, tiny_dataset.parent, (
        f"  - {{dataset: {tiny_dataset.name}, budget: 20s, folds: 1, "
        "hand_tuned: {study: hand, runs: [unet-s1, unet-s2]}}\n"))
    assert compare_main([str(path), "--out", str(tmp_path / "studies")]) == 0
    results = pd.read_csv(tmp_path / "studies" / "planned" / "results.csv")
    row = results.iloc[0]
    assert row["cell"] == "tiny-20s-one-model" and row["models"] == 1 and row["hand_test_iou"] == pytest.approx(0.82)
    assert 0 <= row["test_iou_plain"] <= 1 and row["used_seconds"] > 0
    table = (tmp_path / "studies" / "planned" / "results.md").read_text()
    assert f"| tiny | 1 model; {row['choices']} | 20s (45 s) |" in table and "0.8200 ± 0.0283" in table
    assert compare_main([str(path), "--out", str(tmp_path / "studies"), "--list"]) == 0
    assert capsys.readouterr().out.strip().endswith("tiny-20s-one-model                      done")
    markdown = tmp_path / "RESULTS.md"  # published as RESULTS.md publishes the shipped one
    markdown.write_text("# results\n<!-- study table: planned.yaml (published) -->\nold\n<!-- end of study table -->\nafter\n")
    assert compare_main(["--publish", str(markdown), "--out", str(tmp_path / "studies")]) == 0
    published = markdown.read_text()
    assert "\nold\n" not in published and published.endswith("<!-- end of study table -->\nafter\n")
    assert published.count(f"| tiny | 1 model; {row['choices']} | 20s (45 s) |") == 1
