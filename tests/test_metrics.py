import keras
import numpy as np
import pytest

from tfseg.errors import TfsegError
from tfseg.metrics import SCORES, ConfusionScore, confusion_counts, training_metrics


def _result(metric, batches):
    metric.reset_state()
    for truth, pred in batches:
        metric.update_state(truth, pred)
    return float(metric.result())


def _scores_from_counts(tp, fp, fn, tn):
    """The score formulas written out in NumPy, for non-zero denominators."""
    return {
        "iou": tp / (tp + fp + fn),
        "dice": 2 * tp / (2 * tp + fp + fn),
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "specificity": tn / (tn + fp),
        "accuracy": (tp + tn) / (tp + fp + fn + tn),
    }


def test_hand_made_cases():
    left = np.zeros((1, 4, 4, 1), np.float32)
    left[:, :, :2] = 1
    quarter = np.zeros_like(left)
    quarter[:, :2, :2] = 1
    iou, dice = training_metrics()
    assert (iou.name, dice.name) == ("iou", "dice")
    assert _result(iou, [(left, left)]) == 1.0
    assert _result(iou, [(left, 1 - left)]) == 0.0
    assert _result(iou, [(0 * left, 0 * left)]) == 1.0  # both empty
    assert _result(iou, [(left, quarter)]) == pytest.approx(0.5)
    assert _result(dice, [(left, quarter)]) == pytest.approx(2 * 4 / (8 + 4))
    assert _result(ConfusionScore("precision"), [(left, quarter)]) == 1.0
    assert _result(ConfusionScore("recall"), [(left, quarter)]) == pytest.approx(0.5)
    assert _result(ConfusionScore("recall"), [(left, 0 * left)]) == 0.0  # nothing found
    assert _result(ConfusionScore("precision"), [(left, 0 * left)]) == 0.0  # 0/0, prediction wrong
    assert _result(ConfusionScore("specificity"), [(left, quarter)]) == 1.0
    assert _result(ConfusionScore("specificity"), [(0 * left, left)]) == pytest.approx(0.5)
    assert _result(ConfusionScore("specificity"), [(1 + 0 * left, 1 + 0 * left)]) == 1.0  # 0/0, exact
    assert _result(ConfusionScore("accuracy"), [(left, quarter)]) == pytest.approx(12 / 16)


@pytest.mark.parametrize("score", sorted(SCORES))
def test_binary_epoch_score_comes_from_counts_not_batch_means(score):
    rng = np.random.default_rng(1)
    batches = []
    for size in (1, 3, 2):  # uneven batches
        truth = (rng.random((size, 16, 16, 1)) > 0.7).astype(np.float32)
        pred = rng.random((size, 16, 16, 1)).astype(np.float32)
        batches.append((truth, pred))
    truth = np.concatenate([b[0] for b in batches]) > 0.5
    pred = np.concatenate([b[1] for b in batches]) > 0.5
    counts = [(truth & pred).sum(), (~truth & pred).sum(), (truth & ~pred).sum(), (~truth & ~pred).sum()]
    expected = _scores_from_counts(*counts)[score]
    metric = ConfusionScore(score)
    assert _result(metric, batches) == pytest.approx(expected, rel=1e-6)
    batch_mean = np.mean([_result(metric, [b]) for b in batches])
    assert abs(batch_mean - expected) > 1e-4  # the two really differ here


def test_multiclass_epoch_scores_per_class_and_mean():
    rng = np.random.default_rng(2)
    classes = 4
    batches = []
    for size in (2, 1, 3):
        labels = rng.integers(0, classes, (size, 8, 8))
        probabilities = rng.random((size, 8, 8, classes)).astype(np.float32)
        batches.append((np.eye(classes, dtype=np.float32)[labels], probabilities))
    truth = np.concatenate([b[0] for b in batches]).argmax(-1)
    pred = np.concatenate([b[1] for b in batches]).argmax(-1)
    for score in SCORES:
        per_class = []
        for k in range(classes):
            t, p = truth == k, pred == k
            expected = _scores_from_counts((t & p).sum(), (~t & p).sum(), (t & ~p).sum(), (~t & ~p).sum())[score]
            metric = ConfusionScore(score, classes=classes, class_id=k)
            assert _result(metric, batches) == pytest.approx(expected, rel=1e-6), (score, k)
            per_class.append(expected)
        assert _result(ConfusionScore(score, classes=classes), batches) == pytest.approx(np.mean(per_class[1:]), rel=1e-6)
        with_background = ConfusionScore(score, classes=classes, include_background=True)
        assert _result(with_background, batches) == pytest.approx(np.mean(per_class), rel=1e-6)


def test_multiclass_absent_class_scores_one():
    truth_labels = np.array([[0, 1, 1, 1]])[None]  # (1, 1, 4); class 2 absent from both
    pred_labels = np.array([[0, 1, 1, 0]])[None]
    truth, pred = np.eye(3)[truth_labels], np.eye(3)[pred_labels]
    per_class = [_result(ConfusionScore("iou", classes=3, class_id=k), [(truth, pred)]) for k in range(3)]
    assert per_class == pytest.approx([0.5, 2 / 3, 1.0])
    assert _result(ConfusionScore("iou", classes=3), [(truth, pred)]) == pytest.approx((2 / 3 + 1) / 2)


def test_training_metrics_names():
    assert [m.name for m in training_metrics()] == ["iou", "dice"]
    multiclass = training_metrics(classes=3)
    assert [m.name for m in multiclass] == ["iou", "dice", "iou_1", "iou_2"]
    assert [m.class_id for m in multiclass] == [None, None, 1, 2]


def test_threshold_and_logits():
    truth = np.ones((1, 2, 2, 1), np.float32)
    pred = np.full_like(truth, 0.7)
    assert _result(ConfusionScore("dice", threshold=0.8), [(truth, pred)]) == 0.0
    assert _result(ConfusionScore("dice", threshold=0.6), [(truth, pred)]) == 1.0
    logits = np.log(pred / (1 - pred))
    assert _result(ConfusionScore("dice", threshold=0.8, from_logits=True), [(truth, logits)]) == 0.0
    assert _result(ConfusionScore("dice", threshold=0.6, from_logits=True), [(truth, logits)]) == 1.0


def test_confusion_counts_float16():
    truth = np.array([1, 1, 0, 0], np.float32).reshape(1, 2, 2, 1)
    pred = np.array([0.9, 0.2, 0.6, 0.1], np.float16).reshape(1, 2, 2, 1)
    counts = [float(c[0]) for c in confusion_counts(truth, pred)]
    assert counts == [1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": "f2"}, r"unknown metric score 'f2'; valid: iou, dice, precision, recall, specificity, accuracy"),
        ({"score": "iou", "classes": 3, "class_id": 3}, r"class_id 3 outside 0..2 for 3 classes"),
        ({"score": "iou", "threshold": 1.5}, r"threshold 1.5 must lie in \(0, 1\)"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(TfsegError, match=message):
        ConfusionScore(**kwargs)


def test_sample_weight_is_refused():
    truth = np.ones((1, 2, 2, 1), np.float32)
    with pytest.raises(TfsegError, match="sample_weight is not supported"):
        ConfusionScore("iou").update_state(truth, truth, sample_weight=truth)


def test_serialization_round_trip():
    metric = ConfusionScore("recall", classes=3, threshold=0.3, class_id=2, include_background=True, name="recall_2")
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is ConfusionScore
    assert restored.get_config() == metric.get_config()


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # never trained
def test_compiled_model_saves_and_loads(tmp_path):
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="softmax")(inputs))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=training_metrics(classes=3), run_eagerly=True)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")  # no custom_objects
    rng = np.random.default_rng(3)
    images = rng.random((2, 4, 4, 3)).astype(np.float32)
    truth = np.eye(3, dtype=np.float32)[rng.integers(0, 3, (2, 4, 4))]
    scores = restored.evaluate(images, truth, verbose=0, return_dict=True)
    assert set(scores) == {"loss", "iou", "dice", "iou_1", "iou_2"}
    assert scores == pytest.approx(model.evaluate(images, truth, verbose=0, return_dict=True))
