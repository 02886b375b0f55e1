import keras
import numpy as np
import pytest
from keras import ops

from tfseg import losses
from tfseg.errors import TfsegError

H = W = 8


def _masks():
    """Hand-made binary masks of shape (1, 8, 8, 1)."""
    full = np.ones((1, H, W, 1), np.float32)
    empty = np.zeros_like(full)
    left = np.zeros_like(full)
    left[:, :, : W // 2] = 1
    right = 1 - left
    top_left = np.zeros_like(full)
    top_left[:, : H // 2, : W // 2] = 1  # half of `left`
    return full, empty, left, right, top_left


def value(loss, y_true, y_pred):
    return float(loss(ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)))


@pytest.mark.parametrize("name", ["dice", "jaccard"])
def test_overlap_losses_at_known_values(name):
    full, empty, left, right, top_left = _masks()
    loss = losses.get(name)
    assert value(loss, left, left) == pytest.approx(0.0, abs=1e-6)  # perfect
    assert value(loss, left, right) == pytest.approx(1.0, abs=1e-6)  # disjoint
    assert value(loss, empty, empty) == pytest.approx(0.0, abs=1e-6)  # both empty
    # half overlap: truth = left (32 px), prediction = top-left quarter (16 px), all inside truth
    expected = 1 - (2 * 16 / (32 + 16) if name == "dice" else 16 / 32)
    assert value(loss, left, top_left) == pytest.approx(expected, abs=1e-6)


def test_bce_known_values():
    _, _, left, right, _ = _masks()
    half = np.full_like(left, 0.5)
    assert value(losses.get("bce"), left, half) == pytest.approx(np.log(2), abs=1e-6)
    assert value(losses.get("bce"), left, left) == pytest.approx(0.0, abs=1e-5)
    assert value(losses.get("bce"), left, right) > 10


def test_weighted_sums():
    _, _, left, _, top_left = _masks()
    pred = 0.2 + 0.6 * top_left
    bce, dice, jaccard = (value(losses.get(n), left, pred) for n in ("bce", "dice", "jaccard"))
    assert value(losses.get("bce+jaccard"), left, pred) == pytest.approx(bce + jaccard, rel=1e-6)
    assert value(losses.get("bce+dice+jaccard"), left, pred) == pytest.approx(bce + dice + jaccard, rel=1e-6)
    assert value(losses.get("dice:1.0,bce:0.8"), left, pred) == pytest.approx(dice + 0.8 * bce, rel=1e-6)


def test_multiclass_dice_averages_channels():
    labels = np.zeros((1, H, W), int)
    labels[:, :, 4:] = 1
    truth = np.eye(3, dtype=np.float32)[labels]  # class 2 absent everywhere
    assert value(losses.get("dice", classes=3), truth, truth) == pytest.approx(0.0, abs=1e-6)
    swapped = truth[..., [1, 0, 2]]
    assert value(losses.get("dice", classes=3), truth, swapped) == pytest.approx(2 / 3, abs=1e-6)


def test_from_logits_matches_probabilities():
    rng = np.random.default_rng(0)
    truth = (rng.random((2, H, W, 1)) > 0.5).astype(np.float32)
    logits = rng.normal(size=(2, H, W, 1)).astype(np.float32)
    probabilities = 1 / (1 + np.exp(-logits))
    for name in ("bce+dice", "jaccard"):
        a = value(losses.get(name, from_logits=True), truth, logits)
        b = value(losses.get(name), truth, probabilities)
        assert a == pytest.approx(b, rel=1e-4)


def test_unknown_loss_lists_valid_names():
    with pytest.raises(TfsegError, match="unknown loss 'dcie'.*valid: bce, ce, dice, jaccard"):
        losses.get("bce+dcie")
    with pytest.raises(TfsegError, match="weight 'x'"):
        losses.get("dice:x")


def test_serialization_round_trip():
    loss = losses.get("dice:1.0,bce:0.8", classes=3, from_logits=True)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, losses.CombinedLoss)
    assert (restored.spec, restored.mode, restored.from_logits) == ("dice:1.0,bce:0.8", "multiclass", True)
