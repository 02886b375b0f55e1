import numpy as np
import pytest

from tfseg.evaluation import image_scores, segmentation_scores


def test_segmentation_scores_hand_made():
    truth = np.zeros((4, 4), bool)
    truth[:, :2] = True
    quarter = np.zeros_like(truth)
    quarter[:2, :2] = True
    assert segmentation_scores(truth, truth) == {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0}
    assert segmentation_scores(~truth, truth) == {"dice": 0.0, "iou": 0.0, "precision": 0.0, "recall": 0.0}
    scores = segmentation_scores(quarter, truth)
    assert scores == pytest.approx({"dice": 2 * 4 / 12, "iou": 0.5, "precision": 1.0, "recall": 0.5})
    empty = np.zeros_like(truth)
    assert segmentation_scores(empty, empty) == {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0}
    assert segmentation_scores(empty, truth)["dice"] == 0.0
    assert segmentation_scores(truth, empty)["iou"] == 0.0


def test_multiclass_image_scores_per_class_and_mean():
    truth = np.array([[0, 1, 1, 2]])
    pred = np.array([[0, 1, 2, 2]])
    row = image_scores(pred, truth, classes=3)
    assert row["iou_1"] == pytest.approx(0.5) and row["iou_2"] == pytest.approx(0.5)
    assert row["dice"] == pytest.approx((2 / 3 + 2 / 3) / 2)
