import keras
import numpy as np
import pytest

from tfseg.metrics import ConfusionScore, training_metrics


def _result(metric, batches):
    metric.reset_state()
    for truth, pred in batches:
        metric.update_state(truth, pred)
    return float(metric.result())


def test_hand_made_cases():
    left = np.zeros((1, 4, 4, 1), np.float32)
    left[:, :, :2] = 1
    quarter = np.zeros_like(left)
    quarter[:, :2, :2] = 1
    iou, dice = training_metrics()
    assert _result(iou, [(left, left)]) == 1.0
    assert _result(iou, [(left, 1 - left)]) == 0.0
    assert _result(iou, [(0 * left, 0 * left)]) == 1.0  # both empty
    assert _result(iou, [(left, quarter)]) == pytest.approx(0.5)
    assert _result(dice, [(left, quarter)]) == pytest.approx(2 * 4 / (8 + 4))
    assert _result(ConfusionScore("precision"), [(left, quarter)]) == 1.0
    assert _result(ConfusionScore("recall"), [(left, quarter)]) == pytest.approx(0.5)
    assert _result(ConfusionScore("recall"), [(left, 0 * left)]) == 0.0


def test_epoch_score_comes_from_counts_not_batch_means():
    rng = np.random.default_rng(1)
    batches = []
    for size in (1, 3, 2):  # uneven batches
        truth = (rng.random((size, 16, 16, 1)) > 0.7).astype(np.float32)
        pred = rng.random((size, 16, 16, 1)).astype(np.float32)
        batches.append((truth, pred))
    truth = np.concatenate([b[0] for b in batches]) > 0.5
    pred = np.concatenate([b[1] for b in batches]) > 0.5
    tp, fp, fn = (truth & pred).sum(), (~truth & pred).sum(), (truth & ~pred).sum()
    iou, dice = training_metrics()
    assert _result(iou, batches) == pytest.approx(tp / (tp + fp + fn), rel=1e-6)
    assert _result(dice, batches) == pytest.approx(2 * tp / (2 * tp + fp + fn), rel=1e-6)
    batch_mean = np.mean([_result(iou, [b]) for b in batches])
    assert abs(batch_mean - tp / (tp + fp + fn)) > 1e-4  # the two really differ here


def test_multiclass_per_class_and_mean_without_background():
    truth_labels = np.array([[0, 1, 1, 2]])[None]  # (1, 1, 4)
    pred_labels = np.array([[0, 1, 2, 2]])[None]
    truth, pred = np.eye(3)[truth_labels], np.eye(3)[pred_labels]
    per_class = [_result(ConfusionScore("iou", classes=3, class_id=k), [(truth, pred)]) for k in range(3)]
    assert per_class == pytest.approx([1.0, 0.5, 0.5])
    assert _result(ConfusionScore("iou", classes=3), [(truth, pred)]) == pytest.approx(0.5)
    with_bg = ConfusionScore("iou", classes=3, include_background=True)
    assert _result(with_bg, [(truth, pred)]) == pytest.approx(2 / 3)


def test_threshold_and_serialization():
    metric = ConfusionScore("dice", threshold=0.8, name="dice80")
    truth = np.ones((1, 2, 2, 1), np.float32)
    pred = np.full_like(truth, 0.7)
    assert _result(metric, [(truth, pred)]) == 0.0
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert restored.get_config() == metric.get_config()
