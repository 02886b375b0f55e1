"""Evaluation reports: the auto threshold, evaluate_run's outputs (binary, multi-class, crop-trained,
demo data) and evaluate.py's option checks."""

import json

import cv2
import keras
import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_config
from tfseg import models
from tfseg.cli import evaluate_main
from tfseg.errors import TfsegError
from tfseg.evaluation.report import THRESHOLD_GRID, choose_threshold, evaluate_run


def test_auto_threshold_maximises_mean_dice():
    truth = np.zeros((4, 4), np.uint8)
    truth[:, :2] = 1
    probability = np.where(truth[..., None] > 0, 0.72, 0.31).astype(np.float32)
    probability[0, 0] = 0.2  # a true pixel below 0.31: only thresholds < 0.2 keep it, at the cost of all negatives
    threshold, dice = choose_threshold([probability], [truth])
    assert 0.31 <= threshold < 0.72 and threshold == min(t for t in THRESHOLD_GRID if t >= 0.31)
    assert dice == pytest.approx(2 * 7 / (7 + 8))


def test_evaluate_run_writes_scores_report_and_pictures(binary_run, tiny_dataset):
    summary = evaluate_run(binary_run, split="test", tta="flip", threshold="auto", postprocess_method="largest-component",
                           spacing=(0.5, 0.5))
    out = binary_run / "eval" / "test"
    per_image = pd.read_csv(out / "per_image.csv", dtype={"id": str})
    test_ids = pd.read_csv(tiny_dataset / "splits.csv").query("split == 'test'")["id"]
    assert sorted(per_image["id"]) == sorted(test_ids) and {"dice", "iou"} <= set(per_image.columns)
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["threshold"] in THRESHOLD_GRID and summary["threshold_choice"].startswith("auto")
    assert summary["scores"]["dice"]["median"] == pytest.approx(per_image["dice"].median(), abs=1e-6)
    # every demo image has a lesion: only an empty prediction can occur, and it scores Dice 0
    assert summary["empty_cases"]["truth empty"] == summary["empty_cases"]["both empty"] == 0
    assert summary["empty_cases"]["prediction empty"] <= int((per_image["dice"] == 0).sum())
    report = (out / "report.md").read_text()
    mean, std = per_image["dice"].mean(), per_image["dice"].std()
    assert f"| dice | {mean:.4f} ± {std:.4f} |" in report and "largest-component" in report
    assert f"| prediction empty | {summary['empty_cases']['prediction empty']} |" in report
    for picture in ("best_median_worst.png", "boxplots.png"):
        assert cv2.imread(str(out / picture)) is not None
    assert cv2.imread(str(out / "best_median_worst.png")).shape[0] > 600  # three rows of three panels
    assert (binary_run / "curves.png").is_file()


def test_multiclass_report_has_per_class_scores_and_pictures(multiclass_run, capsys):
    assert evaluate_main([str(multiclass_run), "--split", "test"]) == 0
    out = multiclass_run / "eval" / "test"
    per_image = pd.read_csv(out / "per_image.csv")
    assert {"dice_1", "dice_2", "iou_1", "iou_2"} <= set(per_image.columns)
    picture = cv2.imread(str(out / "best_median_worst.png"))
    assert picture.shape[0] > 1.5 * picture.shape[1]  # 2 classes × 3 rows of 3 panels
    report = (out / "report.md").read_text()
    assert "dice_2" in report and "| class 2: truth empty | 0 |" in report and "dice_1" in capsys.readouterr().out
    assert evaluate_main([str(multiclass_run), "--spacing", "2", "2", "--out", str(multiclass_run / "mm")]) == 0
    in_mm = pd.read_csv(multiclass_run / "mm" / "per_image.csv")
    np.testing.assert_allclose(in_mm[["hd95_1", "assd_2"]], 2 * per_image[["hd95_1", "assd_2"]], rtol=1e-5)
    np.testing.assert_allclose(in_mm["dice"], per_image["dice"])
    assert evaluate_main([str(multiclass_run), "--precision", "mixed_bfloat16_convs", "--out", str(multiclass_run / "bf16")]) == 0
    assert json.loads((multiclass_run / "bf16" / "summary.json").read_text())["precision"] == "mixed_bfloat16_convs"
    assert "in mixed_bfloat16_convs, test-time augmentation" in (multiclass_run / "bf16" / "report.md").read_text()
    in_bf16 = pd.read_csv(multiclass_run / "bf16" / "per_image.csv")
    np.testing.assert_allclose(in_bf16["dice"], per_image["dice"], atol=0.05)  # bfloat16 convolutions: 8-bit mantissa
    assert evaluate_main([str(multiclass_run), "--threshold", "auto"]) == 2
    assert "--threshold auto: only for binary masks" in capsys.readouterr().err


def test_evaluate_cli_rejects_bad_options(binary_run, capsys):
    with pytest.raises(SystemExit):  # as the flags are parsed
        evaluate_main([str(binary_run), "--postprocess", "biggest"])
    assert "argument --postprocess: expected none, or steps joined by + of largest-component" in capsys.readouterr().err
    with pytest.raises(TfsegError, match="--postprocess 'biggest': expected none, or steps joined by"):
        evaluate_run(binary_run, postprocess_method="biggest")  # from Python
    assert evaluate_main([str(binary_run), "--spacing", "0", "1"]) == 2
    assert "--spacing" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate_main([str(binary_run), "--threshold", "high"])


def test_crop_trained_run_is_evaluated_by_sliding_window(binary_run, tiny_dataset, tmp_path):
    from tfseg.data import read_image, read_mask
    from tfseg.evaluation import image_scores
    from tfseg.inference import predict, probabilities_to_labels

    crop_run = tmp_path / "crop-run"
    crop_run.mkdir()
    config = run_config()
    config.data.dir, config.data.image_size, config.data.crop = str(tiny_dataset), [32, 32], 32
    config.save(crop_run / "config.yaml")
    (crop_run / "best.keras").write_bytes((binary_run / "best.keras").read_bytes())
    summary = evaluate_run(crop_run, split="test")
    assert summary["geometry"] == config.data.describe_geometry()
    assert summary["geometry"].startswith("sliding window of 32x32 (height x width) windows at native resolution")
    per_image = pd.read_csv(crop_run / "eval" / "test" / "per_image.csv", dtype={"id": str})
    model = keras.saving.load_model(crop_run / "best.keras")
    images = [read_image(tiny_dataset / "images" / f"{i}.png", 1) for i in per_image["id"]]
    for sample_id, probability, dice in zip(per_image["id"], predict(model, images, sliding_window=True), per_image["dice"]):
        truth = (read_mask(tiny_dataset / "masks" / f"{sample_id}.png")[0] > 127).astype(np.uint8)
        assert image_scores(probabilities_to_labels(probability), truth, 1)["dice"] == pytest.approx(dice, abs=1e-6)


def test_demo_run_summary_names_the_demo_folder(tmp_path):
    config = run_config()  # data.dir None: the built-in demo data
    config.data.image_size, config.data.demo_samples = [32, 32], 20
    config.save(tmp_path / "config.yaml")
    models.build("unet", (32, 32, 1), 1, depth=2, base_filters=4).save(tmp_path / "best.keras")
    summary = evaluate_run(tmp_path, split="test", out_dir=tmp_path / "eval")
    demo = tmp_path / "cache" / "demo-n20-s32-seed0"
    assert summary["data"] == str(demo) and (demo / "splits.csv").is_file()


def test_score_images_scores_each_image_and_counts_empty_cases(tmp_path):
    """One step of evaluate_run on its own: hand-made masks, known scores and empty-mask counts."""
    import cv2

    from tfseg.evaluation.report import score_images

    truths = {"a": np.zeros((4, 4), np.uint8), "b": np.zeros((4, 4), np.uint8), "c": np.zeros((4, 4), np.uint8)}
    truths["a"][:2] = 1  # 8 pixels
    truths["b"][0, 0] = 1  # predicted empty below
    paths = []
    for sample_id, truth in truths.items():
        cv2.imwrite(str(tmp_path / f"{sample_id}.png"), truth * 255)
        paths.append(str(tmp_path / f"{sample_id}.png"))
    rows = pd.DataFrame({"id": list(truths), "mask_path": paths})
    predictions = {"a": truths["a"].copy(), "b": np.zeros((4, 4), np.uint8), "c": np.zeros((4, 4), np.uint8)}
    predictions["a"][2, 0] = 1  # one false positive: Dice 16/17
    per_image, empty = score_images(rows, predictions, run_config(), (1.0, 1.0))
    assert per_image["dice"].round(6).tolist() == [round(16 / 17, 6), 0.0, 1.0]
    assert empty == {"both empty": 1, "truth empty": 0, "prediction empty": 1}


@pytest.mark.parametrize(
    "classes, threshold, postprocess, spacing, message",
    [
        (1, 0.5, "biggest", (1.0, 1.0), "--postprocess 'biggest'"),
        (1, 0.5, "none", (0.0, 1.0), "--spacing"),
        (3, "auto", "none", (1.0, 1.0), "--threshold auto: only for binary masks"),
        (1, 1.5, "none", (1.0, 1.0), r"--threshold 1.5: expected a number in \(0, 1\)"),
    ],
)
def test_evaluation_options_are_checked_before_any_work(classes, threshold, postprocess, spacing, message):
    from tfseg.evaluation.report import check_evaluation_options

    with pytest.raises(TfsegError, match=message):
        check_evaluation_options(classes, threshold, postprocess, spacing)


def test_an_ensemble_is_scored_on_the_mean_of_its_runs_probabilities(binary_run, tiny_dataset, tmp_path, capsys):
    from tfseg.data import read_image, read_mask
    from tfseg.evaluation import image_scores
    from tfseg.inference import predict, probabilities_to_labels

    other = tmp_path / "other-seed"
    other.mkdir()
    (other / "config.yaml").write_bytes((binary_run / "config.yaml").read_bytes())
    keras.utils.set_random_seed(7)
    models.build("unet", (32, 32, 1), 1, depth=2, base_filters=4).save(other / "best.keras")
    summary = evaluate_run(binary_run, split="test", ensemble=[other], out_dir=tmp_path / "ensemble")
    assert summary["ensemble"] == [str(other)]
    assert f"- ensemble: the mean probability of this run and `{other}`" in (tmp_path / "ensemble" / "report.md").read_text()
    per_image = pd.read_csv(tmp_path / "ensemble" / "per_image.csv", dtype={"id": str})
    images = [read_image(tiny_dataset / "images" / f"{i}.png", 1) for i in per_image["id"]]
    alone, second = (predict(keras.saving.load_model(run / "best.keras"), images) for run in (binary_run, other))
    for sample_id, first, other_probability, dice in zip(per_image["id"], alone, second, per_image["dice"]):
        truth = (read_mask(tiny_dataset / "masks" / f"{sample_id}.png")[0] > 127).astype(np.uint8)
        mean = (first + other_probability) / 2
        assert image_scores(probabilities_to_labels(mean), truth, 1)["dice"] == pytest.approx(dice, abs=1e-6)
    assert evaluate_main([str(binary_run), "--ensemble", str(tmp_path / "missing")]) == 2
    assert f"--ensemble {tmp_path / 'missing'}: not a run directory" in capsys.readouterr().err
    (other / "config.yaml").write_text((other / "config.yaml").read_text().replace("classes: 1", "classes: 3"))
    assert evaluate_main([str(binary_run), "--ensemble", str(other)]) == 2
    assert f"--ensemble {other}: data.classes is 3, expected 1 as in {binary_run}" in capsys.readouterr().err


def _run_predicting(source_run, folder, classes, bias):
    """A run folder with `source_run`'s config and an untrained model whose head bias is `bias` (forcing its output)."""
    folder.mkdir()
    (folder / "config.yaml").write_bytes((source_run / "config.yaml").read_bytes())
    model = models.build("unet", (32, 32, 1), classes, depth=2, base_filters=4)
    head = model.get_layer("head_conv")
    kernel, _ = head.get_weights()
    head.set_weights([np.zeros_like(kernel), np.asarray(bias, "float32")])
    model.save(folder / "best.keras")
    return folder


@pytest.mark.parametrize("bias, warning", [
    (10.0, "tfseg: warning: every image's prediction covers at least 99% of its pixels (mean 100.0%): the model "
           "predicts foreground everywhere"),
    (-10.0, "tfseg: warning: no image of the 4 predicts any foreground: every mask is empty"),
])
def test_evaluate_warns_about_all_foreground_and_all_empty_predictions(binary_run, tmp_path, capsys, bias, warning):
    run = _run_predicting(binary_run, tmp_path / "forced", 1, [bias])
    assert evaluate_main([str(run), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-2].startswith(warning), out
    summary = json.loads((run / "eval" / "test" / "summary.json").read_text())
    assert len(summary["warnings"]) == 1 and warning.startswith("tfseg: warning: " + summary["warnings"][0][:40])
    assert f"- **warning**: {summary['warnings'][0]}" in (run / "eval" / "test" / "report.md").read_text()


def test_evaluate_warns_about_a_class_never_predicted(multiclass_run, tmp_path, capsys):
    run = _run_predicting(multiclass_run, tmp_path / "no-class-2", 3, [0.0, 10.0, -10.0])
    summary = evaluate_run(run, split="test")
    assert summary["warnings"][-1] == "class 2 is never predicted on any of the 2 images"
    assert summary["warnings"][0].startswith("every image's prediction covers at least 99%")  # class 1 everywhere


def test_a_working_prediction_gives_no_warnings():
    from tfseg.evaluation.report import degenerate_prediction_warnings

    half = np.zeros((8, 8), np.uint8)
    half[:4] = 1
    assert degenerate_prediction_warnings({"a": half, "b": np.zeros((8, 8), np.uint8)}, 1) == []
    half[4:6] = 2
    assert degenerate_prediction_warnings({"a": half}, 3) == []
    assert degenerate_prediction_warnings({"a": half}, 4) == ["class 3 is never predicted on any of the 1 images"]
