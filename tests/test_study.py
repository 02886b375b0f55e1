"""Studies: the study file, the grid, and compare.py from a study file to its table, killed and restarted."""

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import TINY_MODEL, write_label_dataset
from tfseg.cli import compare_main
from tfseg.errors import TfsegError
from tfseg.evaluation import evaluate_run
from tfseg.study import cell_name, describe_cells, load_study, publish, read_cell_name, run_study, select_cells
from tfseg.files import append_rows
from tfseg.plan.evidence import is_planned_study
from tfseg.study.runner import cell_row, descriptive_values

ROOT = Path(__file__).resolve().parents[1]


def write_study(folder: Path, data_dir, grid, **extra) -> Path:
    study = {
        "name": "tiny",
        "settings": {
            "data": {"dir": str(data_dir), "image_size": [32, 32], "augment": "none"},
            "model": TINY_MODEL,
            "train": {"epochs": 2, "batch_size": 4, "tensorboard_images": 0},
        },
        "grid": grid,
        **extra,
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def test_grid_blocks_expand_into_named_cells(tmp_path):
    path = write_study(tmp_path, "demo", [
        {"model.name": "unet_convpool", "train.loss": ["bce", "dice:1.0,bce:0.5"]},
        {"model.name": ["unet", "unet_upsample"], "train.loss": "bce", "train.lr": 0.0003},
    ], seeds=[0, 1])
    study = load_study(path, tmp_path / "studies")
    assert study.varied == ["model.name", "train.loss", "train.lr"]
    names = [cell.name for cell in study.cells]
    assert names == [
        "unet_convpool-bce-s0", "unet_convpool-bce-s1", "unet_convpool-dice_1.0_bce_0.5-s0",
        "unet_convpool-dice_1.0_bce_0.5-s1", "unet-bce-lr0.0003-s0", "unet-bce-lr0.0003-s1",
        "unet_upsample-bce-lr0.0003-s0", "unet_upsample-bce-lr0.0003-s1"]
    cell = study.cells[5]
    assert (cell.config.model.name, cell.config.train.lr, cell.config.train.seed) == ("unet", 0.0003, 1)
    assert cell.config.model.options == TINY_MODEL["options"]  # the shared settings stay
    assert Path(cell.config.train.run_dir) == tmp_path / "studies" / "tiny" / "runs" / "unet-bce-lr0.0003-s1"
    assert study.cells[0].config.train.lr == 0.001  # a key one block sets does not leak into another
    assert [cell.name for cell in select_cells(study, ["unet_convpool-bce", "unet_upsample-bce-lr0.0003-s1"])] == [
        "unet_convpool-bce-s0", "unet_convpool-bce-s1", "unet_upsample-bce-lr0.0003-s1"]
    with pytest.raises(TfsegError, match=r"--cells: no cell \['unet-dice'\]"):
        select_cells(study, ["unet-dice"])


@pytest.mark.parametrize("content, message", [
    ({"grid": {"train.loss": "bce"}, "epochs": 3}, r"unknown key\(s\) \['epochs'\]"),
    ({"settings": {"data": {"dir": "demo"}}}, "expected a mapping with a grid"),
    ({"grid": []}, "grid: expected a mapping of dotted config keys"),
    ({"grid": {"train.loss": ["bce", "nonsense"]}}, r"cell nonsense-s42"),
    ({"grid": {"train.optimizer": ["adam", "lion"]}}, r"cell optimizerlion-s42: .*train.optimizer"),
    ({"grid": {"model.name": ["unet", "unet_resnet18"], "model.options.encoder_weights": None}},
     r"cell unet-s42: model.options \['encoder_weights'\] are not options of model 'unet'"),
    ({"grid": {"train.seed": [1, 2]}}, "train.seed, train.run_dir, data.folds, data.fold are set by the study"),
    ({"grid": {"train.loss": "bce"}, "seeds": ["a"]}, "seeds: expected an integer or a list of integers"),
    ({"grid": [{"train.loss": "bce"}, {"train.loss": "bce"}]}, r"the same cell twice: \['bce-s42'\]"),
    ({"grid": {"train.loss": "bce"}, "class_names": ["lung"]}, r"class_names: expected 0 names"),
    ({"grid": {"train.loss": "bce"}, "name": "a b"}, "name 'a b': expected letters"),
    ({"grid": {"train.loss": "bce"}, "seeds": [1, 2], "ensembles": ["mirror"]}, r"ensembles: expected distinct"),
    ({"grid": {"train.loss": "bce"}, "ensembles": ["flip"]}, r"ensembles: needs two or more seeds or folds"),
    ({"grid": {"train.loss": "bce"}, "folds": 1}, r"folds: expected an integer k >= 2 \(or 0 for no folds\), got 1"),
    ({"grid": {"data.fold": [0, 1]}}, "data.folds, data.fold are set by the study"),
])
def test_bad_study_files_are_refused_naming_the_file_and_key(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(TfsegError, match=message) as error:
        load_study(path, tmp_path)
    assert str(path) in str(error.value)


def test_compare_refuses_a_pair_that_is_not_a_row_of_the_study(tmp_path, tiny_dataset, capsys):
    from tfseg.cli import compare_main

    study = write_study(tmp_path, tiny_dataset, {"train.loss": ["bce", "dice"]})
    assert compare_main([str(study), "--out", str(tmp_path), "--list", "--pair", "bce-s42", "focal-s42"]) == 2
    assert capsys.readouterr().err.strip() == (f"error: --pair focal-s42: not a row of {study}; its rows: "
                                               "['bce-s42', 'dice-s42']")


def test_compare_cli_refuses_a_missing_study_file_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "compare.py"), str(tmp_path / "absent.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: study file {tmp_path / 'absent.yaml'} does not exist"


def _compare(study: Path, out: Path, *flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "compare.py"), str(study), "--out", str(out), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def _finish(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return stdout


@pytest.mark.slow
def test_compare_killed_mid_cell_and_restarted_finishes_every_cell_once(tmp_path, tiny_dataset, capsys):
    """kill -9 inside the second cell; --list shows it started; the restart resumes it and
    finishes with one row per cell; a third start has nothing to do; a cell whose run was
    trained with other settings than the study file now gives is refused. The kill and the
    restart are compare.py processes; --list, the third start and the refusal run its
    command line in this process (no TensorFlow start-up each)."""
    study = write_study(tmp_path, tiny_dataset, {"train.loss": ["bce", "dice"]})
    study_text = yaml.safe_load(study.read_text())
    study_text["settings"]["train"]["epochs"] = 4
    study.write_text(yaml.safe_dump(study_text))
    out = tmp_path / "studies"
    folder = out / "tiny"

    process = _compare(study, out)
    first_state = folder / "runs" / "dice-s42" / "backup" / "epoch-00001"
    deadline = time.monotonic() + 600
    while not first_state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert first_state.exists(), "compare.py ended before the second cell saved its first epoch"
    done = pd.read_csv(folder / "results.csv")
    assert list(done["cell"]) == ["bce-s42"]  # killed inside the second cell, before its row

    capsys.readouterr()
    assert compare_main([str(study), "--out", str(out), "--list"]) == 0
    listing = capsys.readouterr().out
    assert "bce-s42" in listing and "done" in listing
    assert "dice-s42" in listing and "started:" in listing

    stdout = _finish(_compare(study, out, "--data", f"{tiny_dataset}/./"))  # the same folder, spelled otherwise
    assert "2 cells, 1 to run" in stdout
    results = pd.read_csv(folder / "results.csv")
    assert sorted(results["cell"]) == ["bce-s42", "dice-s42"]  # every cell once
    assert list(results["epochs"]) == [4, 4] and (results["seconds_per_epoch"] > 0).all()
    history = pd.read_csv(folder / "runs" / "dice-s42" / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3, 4]  # resumed, not restarted: one row per epoch
    for split in ("val", "test"):
        assert results[f"{split}_iou"].between(0, 1).all() and results[f"{split}_dice"].between(0, 1).all()
        assert (results[f"{split}_dice"] >= results[f"{split}_iou"]).all()
    summary = pd.read_json(folder / "runs" / "dice-s42" / "eval" / "test" / "summary.json", typ="series")
    assert results.set_index("cell").loc["dice-s42", "test_dice"] == pytest.approx(summary["scores"]["dice"]["mean"], abs=1e-5)
    curves = pd.read_csv(folder / "curves.csv")
    assert sorted(curves.groupby("cell").size().to_dict().items()) == [("bce-s42", 4), ("dice-s42", 4)]
    table = (folder / "results.md").read_text()
    assert "| bce |" in table and "| dice |" in table and table.count("**") >= 2 * 4  # a bold best in each score column
    assert (folder / "results.png").stat().st_size > 10_000
    assert "![test scores and validation curves](results.png)" in table
    assert sorted(path.name for path in tmp_path.iterdir()) == ["studies", "tiny.yaml"]  # writes only under its folder
    for cell in ("bce-s42", "dice-s42"):  # the test scores kept for the study page's side-by-side view
        kept = folder / "per_image" / f"{cell}.csv"
        assert kept.read_text() == (folder / "runs" / cell / "eval" / "test" / "per_image.csv").read_text()
    page = (folder / "report.html").read_text()
    assert 'id="pair"' in page and "runs/dice-s42/eval/test/report_files/thumbs/" in page

    assert compare_main([str(study), "--out", str(out)]) == 0
    assert "2 cells, 0 to run" in capsys.readouterr().out
    assert len(pd.read_csv(folder / "results.csv")) == 2

    (folder / "results.csv").unlink()  # the rows gone, the cells would run again, but the study file changed
    study_text["settings"]["train"]["lr"] = 0.01
    study.write_text(yaml.safe_dump(study_text))
    assert compare_main([str(study), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {folder / 'runs' / 'bce-s42'}: trained with other settings than {study} gives cell bce-s42 "
        "(train.lr); delete the folder to train it again")


@pytest.mark.slow
def test_ensembles_add_a_row_scoring_the_mean_of_each_cells_seeds(tmp_path, tiny_dataset):
    """`ensembles: [none, flip]`: once both seeds are done, two rows score their mean
    probability (without and with flips), exactly as evaluate.py --ensemble --tta does."""
    study_file = write_study(tmp_path, tiny_dataset, {"train.loss": "bce"}, seeds=[0, 1], ensembles=["none", "flip"])
    text = yaml.safe_load(study_file.read_text())
    text["settings"]["train"].update(epochs=4, lr=0.01)
    study_file.write_text(yaml.safe_dump(text))
    out = tmp_path / "studies"
    stdout = _finish(_compare(study_file, out))
    assert "ensemble bce-ensemble-flip done" in stdout
    folder = out / "tiny"
    results = pd.read_csv(folder / "results.csv", dtype={"seed": str}).set_index("cell")
    assert list(results.index) == ["bce-s0", "bce-s1", "bce-ensemble", "bce-ensemble-flip"]
    assert list(results.loc[["bce-ensemble", "bce-ensemble-flip"], "seed"]) == ["0+1", "0+1"]
    assert results.loc["bce-ensemble", "params"] == 2 * results.loc["bce-s0", "params"]
    runs = folder / "runs"
    for cell, tta in (("bce-ensemble", "none"), ("bce-ensemble-flip", "flip")):
        summary = evaluate_run(runs / "bce-s0", split="test", tta=tta, ensemble=[runs / "bce-s1"], out_dir=tmp_path / cell)
        assert results.loc[cell, "test_dice"] == pytest.approx(summary["scores"]["dice"]["mean"], abs=1e-5)
        assert results.loc[cell, "test_iou"] == pytest.approx(summary["scores"]["iou"]["mean"], abs=1e-5)
    assert results["test_dice"].round(5).nunique() == 4  # each row scored, none copied from another
    assert (folder / "per_image" / "bce-ensemble-flip.csv").is_file()
    assert (runs / "bce-ensemble-flip" / "eval" / "test" / "report.html").is_file()
    table = (folder / "results.md").read_text()
    assert "| bce-ensemble-flip | unet | bce | 2 |" in table and "| – |" in table
    study = load_study(study_file, out)
    assert describe_cells(study).splitlines()[-1].split() == ["bce-ensemble-flip", "done"]
    (folder / "results.csv").write_text(results.loc[["bce-s0"]].reset_index().to_csv(index=False))
    assert describe_cells(study).splitlines()[-1].split()[1:] == ["waits", "for", "1", "run(s)"]
    (folder / "results.csv").write_text(results.loc[["bce-s0", "bce-s1"]].reset_index().to_csv(index=False))
    rescored = run_study(study).set_index("cell")  # every cell done: nothing trains, the ensembles are scored
    assert list(rescored.index) == list(results.index)
    assert rescored["test_dice"].tolist() == pytest.approx(results["test_dice"].tolist(), abs=1e-5)


@pytest.mark.slow
def test_folds_train_each_cell_once_per_fold_and_their_ensemble_is_scored_on_test_only(tmp_path, tiny_dataset):
    """`folds: 2`: cells bce-f0-s0 and bce-f1-s0 validate on different halves of the non-test
    ids; results.md averages them (runs 2); the fold ensemble equals evaluate.py --ensemble on
    test and has no val score (each fold's val images trained the other fold)."""
    study_file = write_study(tmp_path, tiny_dataset, {"train.loss": "bce"}, seeds=[0], folds=2, ensembles=["none"])
    text = yaml.safe_load(study_file.read_text())
    text["settings"]["train"].update(epochs=1, lr=0.01)
    study_file.write_text(yaml.safe_dump(text))
    out = tmp_path / "studies"
    study = load_study(study_file, out)
    assert [(cell.name, cell.config.data.folds, cell.config.data.fold) for cell in study.cells] == [
        ("bce-f0-s0", 2, 0), ("bce-f1-s0", 2, 1)]
    _finish(_compare(study_file, out))
    folder = out / "tiny"
    results = pd.read_csv(folder / "results.csv").set_index("cell")
    assert list(results.index) == ["bce-f0-s0", "bce-f1-s0", "bce-ensemble"]
    assert list(results["fold"].iloc[:2]) == [0, 1]
    val_ids = [set(pd.read_csv(folder / "runs" / cell / "eval" / "val" / "per_image.csv")["id"])
               for cell in ("bce-f0-s0", "bce-f1-s0")]
    assert val_ids[0] and val_ids[1] and not val_ids[0] & val_ids[1]
    runs = folder / "runs"
    summary = evaluate_run(runs / "bce-f0-s0", split="test", ensemble=[runs / "bce-f1-s0"], out_dir=tmp_path / "ens")
    assert results.loc["bce-ensemble", "test_iou"] == pytest.approx(summary["scores"]["iou"]["mean"], abs=1e-5)
    assert results.loc["bce-ensemble", ["val_iou", "val_dice"]].isna().all()
    table = (folder / "results.md").read_text()
    assert "| bce | unet | bce | 2 |" in table and "2-fold cross-validation" in table
    header = next(line for line in table.splitlines() if line.startswith("| cell |")).split(" | ")
    ensemble = next(line for line in table.splitlines() if line.startswith("| bce-ensemble |")).split(" | ")
    assert ensemble[3] == "2" and ensemble[header.index("test IoU")] != "–"
    assert ensemble[header.index("val IoU")] == ensemble[header.index("val Dice")] == "–"  # no val scores


@pytest.mark.slow
def test_multiclass_study_reports_each_class_by_name(tmp_path):
    data = write_label_dataset(tmp_path / "labels")
    study = write_study(tmp_path, data, {"train.loss": "ce+dice"}, class_names=["lung", "heart"])
    text = yaml.safe_load(study.read_text())
    text["settings"]["data"]["classes"] = 3
    text["settings"]["train"]["epochs"] = 1
    study.write_text(yaml.safe_dump(text))
    _finish(_compare(study, tmp_path / "studies"))
    results = pd.read_csv(tmp_path / "studies" / "tiny" / "results.csv")
    assert {"test_iou_lung", "test_iou_heart", "val_dice_lung", "val_dice_heart"} <= set(results.columns)
    assert results["test_iou"].to_numpy() == pytest.approx(results[["test_iou_lung", "test_iou_heart"]].mean(axis=1), abs=1e-5)
    assert "test IoU lung" in (tmp_path / "studies" / "tiny" / "results.md").read_text()


def test_settings_may_be_a_config_file_so_a_study_repeats_a_recipe_over_seeds(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"data": {"dir": "somewhere", "image_size": [32, 32]}, "model": TINY_MODEL,
                                      "train": {"epochs": 3, "loss": "bce+dice"}}))
    path = tmp_path / "seeds.yaml"
    path.write_text(yaml.safe_dump({"settings": str(recipe), "grid": {"model.name": "unet"}, "seeds": [0, 1, 2]}))
    study = load_study(path, tmp_path / "studies")
    assert [cell.name for cell in study.cells] == ["unet-s0", "unet-s1", "unet-s2"]
    assert {(cell.config.train.epochs, cell.config.train.loss, cell.config.data.dir) for cell in study.cells} == {
        (3, "bce+dice", "somewhere")}
    moved = load_study(path, tmp_path / "studies", data_dir="elsewhere")  # compare.py --data
    assert {cell.config.data.dir for cell in moved.cells} == {"elsewhere"}
    path.write_text(yaml.safe_dump({"settings": str(tmp_path / "missing.yaml"), "grid": {"model.name": "unet"}}))
    with pytest.raises(TfsegError, match="missing.yaml does not exist"):
        load_study(path, tmp_path / "studies")


@pytest.mark.parametrize("path", [path for path in sorted((ROOT / "configs" / "studies").glob("*.yaml"))
                                  if not is_planned_study(path)],  # tests/plan/test_evidence.py reads those
                         ids=lambda path: path.stem)
def test_shipped_study_files_load_with_every_cell_checked(path, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)  # their paths (data, settings files) are relative to the repository, as in RESULTS.md
    study = load_study(path.relative_to(ROOT), tmp_path)
    assert study.name == path.stem and study.cells


def test_rows_appended_at_once_by_several_processes_are_all_kept(tmp_path):
    """compare.py processes running other cells of one study (one per GPU) append to the same
    results.csv; the lock around its read-modify-write keeps every row."""
    path = tmp_path / "results.csv"

    def append_cells(worker):
        for index in range(15):
            append_rows(path, pd.DataFrame([{"cell": f"w{worker}-{index}", "test_iou": 0.5}]), f"w{worker}-{index}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(append_cells, range(4)))
    assert sorted(pd.read_csv(path)["cell"]) == sorted(f"w{w}-{i}" for w in range(4) for i in range(15))


def test_a_row_gives_the_settings_value_of_a_key_its_block_does_not_vary(tmp_path):
    """lung_levers varies data.augment in one block and the loss in another: the loss cell's
    row says the augmentation it trained with, not a blank; a model option the model lacks stays blank."""
    path = write_study(tmp_path, "demo", [
        {"data.augment": ["light", "medium"]},
        {"train.loss": "dice"},
        {"model.name": "unet_resnet18", "model.options.encoder_weights": "imagenet"},
    ])
    text = yaml.safe_load(path.read_text())
    text["settings"]["model"] = {"name": "unet"}  # no options the encoder model lacks
    path.write_text(yaml.safe_dump(text))
    study = load_study(path, tmp_path / "studies")
    values = {cell.name: descriptive_values(study, cell) for cell in study.cells}
    assert values["dice-s42"] == {"data.augment": "none"}
    assert values["augmentmedium-s42"] == {"data.augment": "medium"}
    assert values["unet_resnet18-encoder_weightsimagenet-s42"] == {"data.augment": "none",
                                                               "model.options.encoder_weights": "imagenet"}
    assert values["augmentlight-s42"] == {"data.augment": "light"}  # unet has no encoder_weights option


def test_publishing_results_md_changes_nothing():
    """RESULTS.md's study tables are written by `compare.py --publish RESULTS.md` from each
    study's results.csv: publishing again gives the committed text."""
    results_md = ROOT / "RESULTS.md"
    text = results_md.read_text()
    assert text.count("<!-- study table: ") >= 4 and "<!-- study table: configs/studies/planned.yaml " in text
    from tfseg.plan.evidence import published_table

    assert publish(results_md, ROOT / "docs" / "assets" / "studies", ROOT / "studies", write=False,
                   other_tables=published_table) == text, (
        "RESULTS.md's study tables differ from the studies' results: run python compare.py --publish RESULTS.md")
    for name in ("jsrt_multiclass", "ph2_losses", "lung_models"):
        assert f"![`{name}`: test scores and validation curves](docs/assets/studies/{name}.png)" in text
        assert (ROOT / "docs" / "assets" / "studies" / f"{name}.png").is_file()


def test_publish_rewrites_the_marked_block_and_draws_its_figure(tmp_path, capsys):
    from tfseg.cli import compare_main

    studies = tmp_path / "studies" / "tiny"
    studies.mkdir(parents=True)
    path = write_study(tmp_path, "demo", {"train.loss": ["bce", "dice"]})
    rows = [{"cell": f"{loss}-s42", "model": "unet", "loss": loss, "seed": 42, "params": 100, "epochs": 2,
             "seconds_per_epoch": 1.0, "best_epoch": 2, "val_iou": iou, "val_iou_std": 0.1, "val_dice": iou + 0.05,
             "val_dice_std": 0.1, "test_iou": iou, "test_iou_std": 0.1, "test_dice": iou + 0.05, "test_dice_std": 0.1}
            for loss, iou in (("bce", 0.7), ("dice", 0.8))]
    pd.DataFrame(rows).to_csv(studies / "results.csv", index=False)
    markdown = tmp_path / "RESULTS.md"
    markdown.write_text("# Results\n\n<!-- study table: tiny.yaml (published) -->\nold table\n<!-- end of study table -->\n\nend\n")
    figures = tmp_path / "docs" / "figures"
    argv = ["--publish", str(markdown), "--figures", str(figures), "--out", str(tmp_path / "studies")]
    assert compare_main(argv) == 0
    text = markdown.read_text()
    assert "old table" not in text and text.endswith("<!-- end of study table -->\n\nend\n")
    assert "![`tiny`: test scores and validation curves](docs/figures/tiny.png)" in text
    assert "| dice | unet | dice | 1 | 100 | 1.0 | 2 | **0.8000 ± 0.1000** |" in text
    assert (figures / "tiny.png").stat().st_size > 10_000
    assert compare_main(argv) == 0 and markdown.read_text() == text
    markdown.write_text("<!-- study table: tiny.yaml -->\nno end\n")
    assert compare_main(argv) == 2
    assert "RESULTS.md line 1: no <!-- end of study table --> after the study table it opens" in capsys.readouterr().err


def test_cell_names_are_built_and_read_by_one_pair():
    values = {"model.name": "unet", "train.loss": "dice:1.0,bce:0.5", "data.image_size": [96, 128]}
    varied = ["model.name", "train.loss", "data.image_size"]
    for fold, seed in ((None, 42), (3, 7), (None, -1), (0, 0)):
        name = cell_name(values, varied, fold, seed)
        parsed = read_cell_name(name)
        assert (parsed.group, parsed.fold, parsed.seed) == ("unet-dice_1.0_bce_0.5-image_size96x128", fold, seed)
    assert cell_name(values, varied, 3, 7) == "unet-dice_1.0_bce_0.5-image_size96x128-f3-s7"
    assert read_cell_name("unet-bce-ensemble-flip").group == "unet-bce-ensemble-flip"


def test_best_epoch_of_a_loss_monitor_is_its_lowest(tmp_path, tiny_dataset):
    """A cell monitored on val_loss reports the epoch of the lowest loss (it was the highest)."""
    import keras

    from tfseg import models

    path = write_study(tmp_path, tiny_dataset, {"train.loss": ["bce", "dice"]})
    text = yaml.safe_load(path.read_text())
    text["settings"]["train"]["monitor"] = "val_loss"
    path.write_text(yaml.safe_dump(text))
    study = load_study(path, tmp_path / "studies")
    cell = study.cells[0]
    run = study.run_dir(cell)
    run.mkdir(parents=True)
    data = cell.config.data
    data.channels, data.classes, data.mask_threshold = 1, 1, 127  # as training decides them from the data
    cell.config.save(run / "config.yaml")
    keras.utils.set_random_seed(0)
    models.build("unet", (32, 32, 1), 1, depth=2, base_filters=4).save(run / "best.keras")
    pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.8, 0.5, 0.4], "val_loss": [0.9, 0.4, 0.6], "iou": [0.3, 0.5, 0.6],
                  "val_iou": [0.2, 0.5, 0.4], "epoch_seconds": [1.0, 1.0, 1.0]}).to_csv(run / "history.csv", index=False)
    row, curve = cell_row(study, cell, run)
    assert row["best_epoch"] == 2
    assert list(curve["value"]) == [0.9, 0.4, 0.6]


def test_train_leaves_the_config_it_is_given_as_it_was(tmp_path, tiny_dataset):
    from tests.conftest import tiny_config
    from tfseg.training import train

    config = tiny_config(tiny_dataset, epochs=1)
    before = config.to_dict()
    run_dir = train(config)
    assert config.to_dict() == before
    assert before["train"]["run_dir"] is None and (run_dir / "config.yaml").is_file()
