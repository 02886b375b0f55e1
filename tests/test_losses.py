import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from tfseg import losses
from tfseg.errors import TfsegError

H = W = 8
CLIPPED_LOG = -np.log(losses.EPSILON)  # cross-entropy of a confidently wrong pixel


def _masks():
    """Hand-made binary masks of shape (1, 8, 8, 1)."""
    left = np.zeros((1, H, W, 1), np.float32)
    left[:, :, : W // 2] = 1  # 32 pixels
    top_left = np.zeros_like(left)
    top_left[:, : H // 2, : W // 2] = 1  # 16 pixels, half of `left`, all inside it
    return left, 1 - left, top_left


def _one_hot(labels, classes=3):
    return np.eye(classes, dtype=np.float32)[labels]


def value(loss, y_true, y_pred):
    return float(loss(ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


SMOOTH = 1.0  # the overlap losses' default smoothing s


def _tversky_index(tp, fp, fn, alpha, beta):
    return (tp + SMOOTH) / (tp + alpha * fp + beta * fn + SMOOTH)


def _overlap_expected(name, tp, fp, fn, positives, negatives):
    """The loss computed by hand from pixel counts of hard (0/1) predictions."""
    if name == "sensitivity_specificity":
        return 0.05 * fn / positives + 0.95 * fp / negatives
    alpha, beta = {"dice": (0.5, 0.5), "jaccard": (1, 1)}.get(name, (0.3, 0.7))
    index = _tversky_index(tp, fp, fn, alpha, beta)
    return (1 - index) ** 0.75 if name == "focal_tversky" else 1 - index


OVERLAP_LOSSES = ["dice", "jaccard", "tversky", "focal_tversky", "sensitivity_specificity"]


@pytest.mark.parametrize("name", OVERLAP_LOSSES)
def test_overlap_losses_at_known_values(name):
    left, right, top_left = _masks()
    loss = losses.get(name)
    assert value(loss, left, left) == pytest.approx(0.0, abs=1e-5)  # perfect: the minimum 0
    disjoint = value(loss, left, right)  # TP 0, FP 32, FN 32: the maximum
    assert disjoint == pytest.approx(_overlap_expected(name, 0, 32, 32, 32, 32), abs=1e-6)
    # truth = left (32 px), prediction = top-left (16 px inside it): TP 16, FP 0, FN 16
    half = value(loss, left, top_left)
    assert half == pytest.approx(_overlap_expected(name, 16, 0, 16, 32, 32), abs=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(5):
        soft = rng.random((1, H, W, 1)).astype(np.float32)
        assert 0.0 < value(loss, left, soft) < disjoint


def test_empty_truth_and_prediction_is_perfect():
    empty = np.zeros((1, H, W, 1), np.float32)
    for name in ("dice", "jaccard", "tversky", "sensitivity_specificity", "lovasz", "bce"):
        assert value(losses.get(name), empty, empty) == pytest.approx(0.0, abs=1e-5), name


@pytest.mark.parametrize("name", ["bce", "focal"])
def test_pixel_losses_at_known_values(name):
    left, right, _ = _masks()
    loss = losses.get(name)
    assert value(loss, left, left) == pytest.approx(0.0, abs=1e-5)  # perfect
    # disjoint: every pixel confidently wrong, probabilities clipped at 1e-7: the maximum
    assert value(loss, left, right) == pytest.approx(CLIPPED_LOG, rel=0.01)
    # every pixel gives probability 0.75 to its true class
    p_true = 0.75
    soft = np.where(left > 0, p_true, 1 - p_true).astype(np.float32)
    expected = -np.log(p_true) * ((1 - p_true) ** 2 if name == "focal" else 1)
    assert value(loss, left, soft) == pytest.approx(expected, rel=1e-5)
    assert value(loss, left, np.full_like(left, 0.5)) == pytest.approx(np.log(2) * (0.25 if name == "focal" else 1), rel=1e-5)


def test_lovasz_hinge_at_known_values():
    """Logits ±L: a perfect margin costs 0, all wrong costs the hinge 1 + L, and half the
    foreground missed costs the Jaccard loss 0.5 times that hinge."""
    left, right, top_left = _masks()
    loss = losses.get("lovasz", from_logits=True)
    margin = 3.0
    assert value(loss, left, (2 * left - 1) * margin) == pytest.approx(0.0, abs=1e-6)
    assert value(loss, left, (2 * right - 1) * margin) == pytest.approx(1 + margin, rel=1e-6)
    assert value(loss, left, (2 * top_left - 1) * margin) == pytest.approx((1 + margin) / 2, rel=1e-6)
    # from probabilities the logits are the clipped log-odds
    assert value(losses.get("lovasz"), left, right) == pytest.approx(1 + CLIPPED_LOG, rel=1e-3)


def test_lovasz_softmax_equals_mean_jaccard_loss_of_present_classes():
    labels = np.zeros((1, H, W), int)
    labels[:, :, : W // 2] = 1  # class 1 left, class 0 right, class 2 absent
    predicted = np.zeros_like(labels)
    predicted[:, : H // 2, : W // 2] = 1
    truth, pred = _one_hot(labels), _one_hot(predicted)
    loss = losses.get("lovasz", classes=3)
    # class 1: IoU 16/32; class 0: IoU 32/48; class 2 absent from the truth, left out
    assert value(loss, truth, pred) == pytest.approx(((1 - 16 / 32) + (1 - 32 / 48)) / 2, rel=1e-6)
    assert value(loss, truth, truth) == pytest.approx(0.0, abs=1e-6)
    assert value(loss, truth, truth[..., [1, 0, 2]]) == pytest.approx(1.0, rel=1e-6)


def test_multiclass_overlap_losses_average_channels():
    labels = np.zeros((1, H, W), int)
    labels[:, :, 4:] = 1
    truth = _one_hot(labels)  # class 2 absent everywhere
    swapped = truth[..., [1, 0, 2]]
    for name in OVERLAP_LOSSES:
        loss = losses.get(name, classes=3)
        assert value(loss, truth, truth) == pytest.approx(0.0, abs=1e-5), name
        # channels 0 and 1 entirely wrong (TP 0, FP 32, FN 32), the absent class 2 right
        wrong = _overlap_expected(name, 0, 32, 32, 32, 32)
        right = _overlap_expected(name, 0, 0, 0, 1, 64)
        assert value(loss, truth, swapped) == pytest.approx((2 * wrong + right) / 3, abs=1e-5), name


def test_focal_with_gamma_zero_is_cross_entropy():
    rng = np.random.default_rng(1)
    truth = (rng.random((2, H, W, 1)) > 0.6).astype(np.float32)
    logits = rng.normal(size=(2, H, W, 1)).astype(np.float32) * 3
    for from_logits, pred in ((True, logits), (False, _sigmoid(logits))):
        focal = value(losses.get("focal(gamma=0)", from_logits=from_logits), truth, pred)
        assert focal == pytest.approx(value(losses.get("bce", from_logits=from_logits), truth, pred), rel=1e-6)
        # with alpha: alpha-weighted cross-entropy, alpha on foreground, 1 - alpha on background
        alpha = 0.25
        p = _sigmoid(logits)
        elementwise = -(truth * np.log(p) + (1 - truth) * np.log(1 - p))
        expected = np.mean((alpha * truth + (1 - alpha) * (1 - truth)) * elementwise)
        weighted = value(losses.get(f"focal(alpha={alpha}, gamma=0)", from_logits=from_logits), truth, pred)
        assert weighted == pytest.approx(expected, rel=1e-4)
    labels = rng.integers(0, 3, (2, H, W))
    class_logits = rng.normal(size=(2, H, W, 3)).astype(np.float32)
    multiclass = value(losses.get("focal(gamma=0)", classes=3, from_logits=True), _one_hot(labels), class_logits)
    assert multiclass == pytest.approx(value(losses.get("ce", classes=3, from_logits=True), _one_hot(labels), class_logits), rel=1e-6)


def test_focal_down_weights_easy_pixels():
    left, _, _ = _masks()
    easy = np.where(left > 0, 0.9, 0.1).astype(np.float32)
    ratio = value(losses.get("focal(gamma=2)"), left, easy) / value(losses.get("bce"), left, easy)
    assert ratio == pytest.approx(0.1**2, rel=1e-5)


@pytest.mark.parametrize("classes", [1, 3])
def test_tversky_with_equal_half_weights_is_dice(classes):
    rng = np.random.default_rng(2)
    if classes == 1:
        truth = (rng.random((3, H, W, 1)) > 0.5).astype(np.float32)
        pred = rng.random((3, H, W, 1)).astype(np.float32)
    else:
        truth = _one_hot(rng.integers(0, 3, (3, H, W)))
        pred = _softmax(rng.normal(size=(3, H, W, 3))).astype(np.float32)
    tversky = value(losses.get("tversky(alpha=0.5, beta=0.5)", classes), truth, pred)
    assert tversky == pytest.approx(value(losses.get("dice", classes), truth, pred), abs=1e-6)
    jaccard_like = value(losses.get("tversky(alpha=1, beta=1)", classes), truth, pred)
    assert jaccard_like == pytest.approx(value(losses.get("jaccard", classes), truth, pred), abs=1e-6)
    focal_tversky_1 = value(losses.get("focal_tversky(alpha=0.5, beta=0.5, gamma=1)", classes), truth, pred)
    assert focal_tversky_1 == pytest.approx(tversky, abs=1e-6)


def test_class_weighted_cross_entropy():
    labels = np.array([[[0, 1], [1, 2]]])  # (1, 2, 2)
    truth = _one_hot(labels)
    logits = np.array([[[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0], [0.0, 0.0, 3.0]]]], np.float32)
    per_pixel = -np.log(np.sum(_softmax(logits) * truth, -1))
    weights = np.array([0.5, 1.0, 4.0])
    expected = np.sum(weights[labels] * per_pixel) / np.sum(weights[labels])
    loss = losses.get("ce(class_weights=[0.5, 1, 4])", classes=3, from_logits=True)
    assert value(loss, truth, logits) == pytest.approx(expected, rel=1e-5)
    equal = losses.get("ce(class_weights=[2, 2, 2])", classes=3, from_logits=True)
    assert value(equal, truth, logits) == pytest.approx(per_pixel.mean(), rel=1e-5)
    # binary: (background, foreground)
    left, _, _ = _masks()
    pred = np.full_like(left, 0.8)
    binary = value(losses.get("bce(class_weights=[1, 3])"), left, pred)
    assert binary == pytest.approx((3 * 32 * -np.log(0.8) + 32 * -np.log(0.2)) / (3 * 32 + 32), rel=1e-5)


def test_multilabel_is_the_mean_of_independent_binary_channels():
    rng = np.random.default_rng(3)
    truth = (rng.random((2, H, W, 2)) > 0.5).astype(np.float32)
    pred = rng.random((2, H, W, 2)).astype(np.float32)
    for name in ("dice", "bce", "lovasz", "focal"):
        multilabel = value(losses.get(name, classes=2, mode="multilabel"), truth, pred)
        channels = [value(losses.get(name), truth[..., [c]], pred[..., [c]]) for c in range(2)]
        assert multilabel == pytest.approx(np.mean(channels), rel=1e-5), name


@pytest.mark.parametrize("classes", [1, 3])
def test_from_logits_matches_probabilities(classes):
    rng = np.random.default_rng(4)
    if classes == 1:
        truth = (rng.random((2, H, W, 1)) > 0.5).astype(np.float32)
        logits = rng.normal(size=(2, H, W, 1)).astype(np.float32)
        probabilities = _sigmoid(logits)
    else:
        truth = _one_hot(rng.integers(0, 3, (2, H, W)))
        logits = rng.normal(size=(2, H, W, 3)).astype(np.float32)
        probabilities = _softmax(logits)
    for name in losses.names():
        a = value(losses.get(name, classes, from_logits=True), truth, logits)
        b = value(losses.get(name, classes), truth, probabilities.astype(np.float32))
        assert a == pytest.approx(b, rel=1e-4), name


def _gradient(loss, truth, pred):
    pred = tf.constant(pred)
    with tf.GradientTape() as tape:
        tape.watch(pred)
        result = loss(tf.constant(truth), pred)
    return result, tape.gradient(result, pred)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", losses.names())
def test_gradients_finite_at_saturated_inputs(name, dtype):
    """Binary: probabilities and logits all 0 and all 1 against all-0 and all-1 targets.
    Multi-class: logits all 0 and all 1, and saturated one-hot probabilities."""
    shape = (1, 4, 4, 1)
    cases = []
    for truth_value in (0.0, 1.0):
        truth = np.full(shape, truth_value, np.float32)
        for pred_value in (0.0, 1.0):
            pred = np.full(shape, pred_value, dtype)
            cases += [(losses.get(name), truth, pred), (losses.get(name, from_logits=True), truth, pred)]
    for label in (0, 1):
        truth = _one_hot(np.full((1, 4, 4), label))
        for pred_value in (0.0, 1.0):
            cases.append((losses.get(name, classes=3, from_logits=True), truth, np.full((1, 4, 4, 3), pred_value, dtype)))
        cases.append((losses.get(name, classes=3), truth, _one_hot(np.full((1, 4, 4), 1 - label)).astype(dtype)))
    for loss, truth, pred in cases:
        result, gradient = _gradient(loss, truth, pred)
        assert result.dtype == tf.float32
        assert np.isfinite(float(result)), (loss.spec, loss.mode, loss.from_logits)
        assert gradient.dtype == dtype
        assert np.all(np.isfinite(gradient.numpy())), (loss.spec, loss.mode, loss.from_logits)


def test_float16_predictions_give_the_float32_value():
    rng = np.random.default_rng(5)
    truth = (rng.random((2, H, W, 1)) > 0.5).astype(np.float32)
    pred = rng.random((2, H, W, 1)).astype(np.float16)
    for name in losses.names():
        loss = losses.get(name)
        assert value(loss, truth, pred) == pytest.approx(value(loss, truth, pred.astype(np.float32)), rel=1e-6), name


def test_weighted_sums():
    left, _, top_left = _masks()
    pred = 0.2 + 0.6 * top_left
    bce, dice, jaccard, focal = (value(losses.get(n), left, pred) for n in ("bce", "dice", "jaccard", "focal(gamma=1)"))
    assert value(losses.get("bce+jaccard"), left, pred) == pytest.approx(bce + jaccard, rel=1e-6)
    assert value(losses.get("bce+dice+jaccard"), left, pred) == pytest.approx(bce + dice + jaccard, rel=1e-6)
    assert value(losses.get("dice:1.0,bce:0.8"), left, pred) == pytest.approx(dice + 0.8 * bce, rel=1e-6)
    assert value(losses.get("dice:1.0, focal(gamma=1):0.5"), left, pred) == pytest.approx(dice + 0.5 * focal, rel=1e-6)
    assert value(losses.get("Focal(gamma=1) + DICE"), left, pred) == pytest.approx(dice + focal, rel=1e-6)


def test_parse_loss_spec():
    assert losses.parse_loss_spec("bce+dice") == [("bce", {}, 1.0), ("dice", {}, 1.0)]
    assert losses.parse_loss_spec("dice:1.0,focal(alpha=0.25, gamma=1.5):0.5,ce(class_weights=[1, 2])") == [
        ("dice", {}, 1.0),
        ("focal", {"alpha": 0.25, "gamma": 1.5}, 0.5),
        ("ce", {"class_weights": [1, 2]}, 1.0),
    ]


@pytest.mark.parametrize(
    ("spec", "classes", "message"),
    [
        ("bce+dcie", 1, r"unknown loss 'dcie' in 'bce\+dcie'; did you mean dice or ce\? valid: bce, ce, dice, focal, focal_tversky, "),
        ("bce+", 1, r"unknown loss ''"),
        ("dice:x", 1, r"weight 'x' of dice is not a number"),
        ("focal(gama=2)", 1, r"focal has no parameter 'gama'; did you mean gamma\? valid: alpha, gamma$"),
        ("lovasz(gamma=2)", 1, r"lovasz has no parameter 'gamma'; valid: none"),
        ("focal(2)", 1, r"parameters of focal must read key=value"),
        ("focal(gamma=2", 1, r"unbalanced brackets"),
        ("focal(alpha=1.5)", 1, r"focal: alpha must be a number in \[0.0, 1.0\], got 1.5"),
        ("tversky(alpha='a')", 1, r"tversky: alpha must be a number"),
        ("ce(class_weights=[1, 2])", 3, r"class_weights has 2 values, expected one per class \(3\)"),
        ("bce(class_weights=[1, 2, 3])", 1, r"expected 2 \(background, foreground\)"),
        ("ce(class_weights=3)", 1, r"bad parameters for ce"),
    ],
)
def test_bad_specs_name_the_problem(spec, classes, message):
    with pytest.raises(TfsegError, match=message):
        losses.get(spec, classes)


def test_unknown_mode():
    with pytest.raises(TfsegError, match="loss mode 'softmax' unknown; valid: binary, multiclass, multilabel"):
        losses.DiceLoss(mode="softmax")


LOSS_CLASSES = [
    losses.CrossEntropyLoss(mode="multiclass", class_weights=[1.0, 2.0, 3.0]),
    losses.FocalLoss(alpha=0.3, gamma=1.5, from_logits=True),
    losses.DiceLoss(smooth=1.0),
    losses.JaccardLoss(mode="multilabel"),
    losses.TverskyLoss(alpha=0.2, beta=0.8),
    losses.FocalTverskyLoss(gamma=1.3),
    losses.SensitivitySpecificityLoss(sensitivity_weight=0.1),
    losses.LovaszLoss(mode="multiclass"),
    losses.get("dice:1.0,focal(gamma=1):0.5", classes=3, from_logits=True),
]


@pytest.mark.parametrize("loss", LOSS_CLASSES, ids=lambda loss: type(loss).__name__)
def test_serialization_round_trip(loss):
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # never trained
def test_compiled_model_saves_and_loads(tmp_path):
    from tfseg.metrics import training_metrics

    inputs = keras.Input((H, W, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))
    model.compile(optimizer="adam", loss=losses.get("focal(gamma=1)+lovasz+tversky"), metrics=training_metrics())
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")  # no custom_objects
    assert isinstance(restored.loss, losses.CombinedLoss)
    assert restored.loss.get_config() == model.loss.get_config()
    left, _, top_left = _masks()
    pred = 0.2 + 0.6 * top_left
    assert value(restored.loss, left, pred) == pytest.approx(value(model.loss, left, pred), rel=1e-6)
