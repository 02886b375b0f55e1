import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from tests.conftest import shared_dataset
from tfseg.errors import TfsegError
from tfseg.evaluation import (
    SCORE_NAMES,
    dice_score,
    empty_case,
    image_scores,
    multiclass_scores,
    segmentation_scores,
    surface_distances,
)

medpy_binary = pytest.importorskip("medpy.metric.binary", reason="medpy (the reference) is a dev dependency")

MEDPY_SCORES = {
    "dice": medpy_binary.dc,
    "iou": medpy_binary.jc,
    "precision": medpy_binary.precision,
    "recall": medpy_binary.recall,
    "specificity": medpy_binary.specificity,  # the true negative rate
}


def _random_mask(rng, shape):
    """A non-empty, not full mask: smooth blobs, a rectangle, an ellipse or scattered pixels."""
    kind = rng.integers(4)
    if kind == 0:
        noise = ndimage.gaussian_filter(rng.random(shape), sigma=rng.uniform(0.5, 3))
        mask = noise > np.quantile(noise, rng.uniform(0.3, 0.9))
    elif kind == 1:
        mask = np.zeros(shape, bool)
        (r0, r1), (c0, c1) = (np.sort(rng.integers(0, n + 1, 2)) for n in shape)
        mask[r0 : r1 + 1, c0 : c1 + 1] = True
    elif kind == 2:
        rows, cols = np.ogrid[: shape[0], : shape[1]]
        centre, radii = rng.uniform(0, shape), rng.uniform(0.5, np.maximum(np.array(shape) / 1.5, 1.0))
        mask = ((rows - centre[0]) / radii[0]) ** 2 + ((cols - centre[1]) / radii[1]) ** 2 <= 1
    else:
        mask = rng.random(shape) < rng.uniform(0.02, 0.5)
    mask.flat[rng.integers(mask.size)] = True
    mask.flat[rng.integers(mask.size)] = False
    if not mask.any():  # the two picks were the same pixel
        mask.flat[0] = not mask.flat[-1]
        mask.flat[-1] = True
    return mask


def _random_prediction(rng, truth):
    """An unrelated mask, or the truth shifted, dilated or eroded."""
    kind = rng.integers(3)
    if kind == 0:
        pred = _random_mask(rng, truth.shape)
    elif kind == 1:
        pred = np.roll(truth, tuple(rng.integers(-3, 4, 2)), axis=(0, 1))
    else:
        operation = ndimage.binary_dilation if rng.random() < 0.5 else ndimage.binary_erosion
        pred = operation(truth, iterations=int(rng.integers(1, 3)))
    return pred if pred.any() and not pred.all() else _random_mask(rng, truth.shape)


def _random_cases(count, seed):
    rng = np.random.default_rng(seed)
    for index in range(count):
        shape = tuple(int(n) for n in rng.integers(3, 48, 2))
        if index % 5 == 0:
            shape = (int(rng.integers(1, 3)), shape[1])  # one or two rows: thin masks
        truth = _random_mask(rng, shape)
        pred = _random_prediction(rng, truth)
        spacing = (1.0, 1.0) if index % 4 == 0 else tuple(rng.uniform(0.2, 3.0, 2))  # mostly anisotropic
        yield pred, truth, spacing


@pytest.mark.parametrize("seed", [0, 1])
def test_segmentation_scores_match_medpy_on_random_shapes(seed):
    compared = 0
    for pred, truth, spacing in _random_cases(120, seed):
        scores = segmentation_scores(pred, truth, spacing)
        for name, reference in MEDPY_SCORES.items():
            assert scores[name] == pytest.approx(reference(pred, truth), abs=1e-6), (name, pred.shape, spacing)
        assert scores["assd"] == pytest.approx(medpy_binary.assd(pred, truth, voxelspacing=spacing), abs=1e-6)
        assert scores["hd95"] == pytest.approx(medpy_binary.hd95(pred, truth, voxelspacing=spacing), abs=1e-6)
        assert scores["accuracy"] == pytest.approx(np.mean(pred == truth), abs=1e-12)
        compared += 1
    assert compared == 120


def test_multiclass_scores_match_medpy_on_real_label_maps():
    """JSRT lung / heart / clavicle label maps (256²) against altered copies of themselves."""
    masks = sorted((shared_dataset("jsrt-multiclass") / "masks").glob("*.png"))[:4]
    rng = np.random.default_rng(4)
    spacing = (1.4, 0.7)
    for path in masks:
        truth = np.asarray(Image.open(path))
        pred = np.roll(truth, tuple(rng.integers(-4, 5, 2)), axis=(0, 1))
        pred[ndimage.binary_erosion(truth == 2, iterations=3)] = 1  # part of the heart called lung
        per_class = multiclass_scores(pred, truth, classes=4, spacing=spacing)
        for k, scores in per_class.items():
            p, t = pred == k, truth == k
            for name, reference in MEDPY_SCORES.items():
                assert scores[name] == pytest.approx(reference(p, t), abs=1e-6), (path.name, k, name)
            assert scores["assd"] == pytest.approx(medpy_binary.assd(p, t, voxelspacing=spacing), abs=1e-6)
            assert scores["hd95"] == pytest.approx(medpy_binary.hd95(p, t, voxelspacing=spacing), abs=1e-6)


def test_surface_distances_by_hand():
    """A 3×3 square against the same square shifted two columns, rows 0.5 and columns 2 units apart."""
    truth = np.zeros((5, 7), bool)
    truth[1:4, 1:4] = True
    pred = np.roll(truth, 2, axis=1)
    # each border is the square minus its centre (8 px); one column costs 2 units.
    # pred → truth: its left column lies on truth's right column (0, 0, 0), the top and
    # bottom of its middle column are one column away (2, 2), its right column two (4, 4, 4)
    distances = surface_distances(pred, truth, spacing=(0.5, 2.0))
    assert sorted(distances[:8]) == pytest.approx([0, 0, 0, 2, 2, 4, 4, 4])
    assert sorted(distances[8:]) == pytest.approx([0, 0, 0, 2, 2, 4, 4, 4])  # symmetric here
    scores = segmentation_scores(pred, truth, spacing=(0.5, 2.0))
    assert scores["assd"] == pytest.approx(2 * (2 + 2 + 4 + 4 + 4) / 16)
    assert scores["hd95"] == pytest.approx(np.percentile(distances, 95))


def test_overlap_scores_by_hand():
    truth = np.zeros((4, 4), bool)
    truth[:, :2] = True
    quarter = np.zeros_like(truth)
    quarter[:2, :2] = True
    scores = segmentation_scores(quarter, truth)
    assert set(scores) == set(SCORE_NAMES)
    assert scores == pytest.approx(
        {"dice": 8 / 12, "iou": 0.5, "precision": 1.0, "recall": 0.5, "specificity": 1.0, "accuracy": 12 / 16,
         "assd": scores["assd"], "hd95": scores["hd95"]}
    )
    assert segmentation_scores(truth, truth) == pytest.approx(
        {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0, "specificity": 1.0, "accuracy": 1.0,
         "assd": 0.0, "hd95": 0.0}
    )
    inverse = segmentation_scores(~truth, truth)
    assert [inverse[name] for name in ("dice", "iou", "precision", "recall", "specificity", "accuracy")] == [0.0] * 6


def test_empty_masks():
    shape, spacing = (3, 4), (2.0, 0.5)
    diagonal = math.hypot(3 * 2.0, 4 * 0.5)
    empty, some = np.zeros(shape, bool), np.zeros(shape, bool)
    some[1, 1:3] = True
    both = segmentation_scores(empty, empty, spacing)
    assert both == {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0, "specificity": 1.0, "accuracy": 1.0,
                    "assd": 0.0, "hd95": 0.0}
    missed = segmentation_scores(empty, some, spacing)  # prediction empty
    assert (missed["dice"], missed["iou"], missed["precision"], missed["recall"]) == (0.0, 0.0, 0.0, 0.0)
    assert missed["specificity"] == 1.0 and missed["accuracy"] == pytest.approx(10 / 12)
    assert missed["assd"] == missed["hd95"] == pytest.approx(diagonal)
    spurious = segmentation_scores(some, empty, spacing)  # truth empty
    assert (spurious["dice"], spurious["iou"], spurious["precision"], spurious["recall"]) == (0.0, 0.0, 0.0, 0.0)
    assert spurious["assd"] == spurious["hd95"] == pytest.approx(diagonal)
    # everything foreground in both: no negatives, specificity 0/0 of an exact match is 1 (medpy: 0)
    assert segmentation_scores(~empty, ~empty)["specificity"] == 1.0
    assert segmentation_scores(~some, ~empty)["specificity"] == 0.0
    for scores in (both, missed, spurious):
        assert all(np.isfinite(value) for value in scores.values())


def test_empty_case():
    full, empty = np.ones((2, 2), bool), np.zeros((2, 2), bool)
    assert empty_case(empty, empty) == "both empty"
    assert empty_case(full, empty) == "truth empty"
    assert empty_case(empty, full) == "prediction empty"
    assert empty_case(full, full) is None


def test_multiclass_scores_per_class():
    truth = np.array([[0, 1, 1, 2], [0, 0, 2, 2]])
    pred = np.array([[0, 1, 2, 2], [0, 0, 0, 2]])
    spacing = (1.0, 0.5)
    per_class = multiclass_scores(pred, truth, classes=4, spacing=spacing)
    assert sorted(per_class) == [1, 2, 3]
    for k in (1, 2, 3):
        assert per_class[k] == segmentation_scores(pred == k, truth == k, spacing)
    assert per_class[1]["iou"] == pytest.approx(0.5) and per_class[2]["iou"] == pytest.approx(0.5)
    assert per_class[3]["dice"] == 1.0 and per_class[3]["hd95"] == 0.0  # absent from both
    with_background = multiclass_scores(pred, truth, classes=4, spacing=spacing, include_background=True)
    assert with_background[0]["iou"] == pytest.approx(3 / 4)


def test_image_scores_binary_and_multiclass():
    truth = np.array([[0, 1, 1, 2]])
    pred = np.array([[0, 1, 2, 2]])
    row = image_scores(pred, truth, classes=3, spacing=(1.0, 2.0))
    assert row["iou_1"] == pytest.approx(0.5) and row["iou_2"] == pytest.approx(0.5)
    assert row["dice"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    for name in SCORE_NAMES:
        assert row[name] == pytest.approx((row[f"{name}_1"] + row[f"{name}_2"]) / 2)
    assert set(row) == set(SCORE_NAMES) | {f"{name}_{k}" for name in SCORE_NAMES for k in (1, 2)}
    binary = image_scores(pred > 0, truth > 1, classes=1, spacing=(1.0, 2.0))
    assert binary == segmentation_scores(pred > 0, truth > 1, (1.0, 2.0))


@pytest.mark.parametrize("classes", [1, 4])
def test_dice_score_is_image_scores_dice_without_the_distances(classes):
    rng = np.random.default_rng(classes)
    for _ in range(20):
        truth = rng.integers(0, max(classes, 2), (16, 16)) * (rng.random() < 0.8)  # some truths empty
        pred = rng.integers(0, max(classes, 2), (16, 16)) * (rng.random() < 0.8)
        assert dice_score(pred, truth, classes) == pytest.approx(image_scores(pred, truth, classes)["dice"])
    assert dice_score(np.zeros((4, 4)), np.zeros((4, 4)), classes) == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: segmentation_scores(np.zeros((2, 3)), np.zeros((3, 2))), r"prediction shape \(2, 3\) differs from truth shape \(3, 2\)"),
        (lambda: segmentation_scores(np.zeros((2, 3)), np.zeros((2, 3)), (1.0,)), r"spacing \(1.0,\): expected 2 positive numbers"),
        (lambda: segmentation_scores(np.zeros((2, 3)), np.zeros((2, 3)), (1.0, 0.0)), r"expected 2 positive numbers"),
        (lambda: multiclass_scores(np.full((2, 2), 3), np.zeros((2, 2), int), 3), r"prediction labels span 3..3, expected 0..2"),
        (lambda: surface_distances(np.zeros((2, 2)), np.ones((2, 2))), r"need two non-empty masks"),
    ],
)
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(TfsegError, match=message):
        call()
