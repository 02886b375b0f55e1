"""MA-Net: the position attention block (shape and row-wise softmax attention), the
multi-scale fusion attention blocks, option errors."""

import keras
import numpy as np
import pytest

from tests.models.conftest import _batch
from tfseg import models
from tfseg.errors import TfsegError

SMALL = dict(decoder_channels=(16, 16, 8, 8, 8), decoder_pab_channels=8)
# The smallest stride-32 feature (368 channels): MA-Net's position attention and first
# fusion block keep 3×3 convs at that width (smp), 15M weights each on MobileNetV2's 1280.
MODEL = "manet_regnety002"


def test_manet_position_attention_block():
    model = models.build(MODEL, (64, 64, 3), 1, **SMALL)
    deepest = models.get_encoder(model).outputs[-1].shape[1:]  # stride 32
    assert deepest[:2] == (2, 2)
    assert model.get_layer("pab_query").input.shape[1:] == deepest
    assert model.get_layer("pab_query").filters == model.get_layer("pab_key").filters == 8
    assert model.get_layer("pab_value").kernel_size == (3, 3) and model.get_layer("pab_value").filters == deepest[-1]
    assert model.get_layer("pab_attention_map").output.shape[1:] == deepest
    assert model.get_layer("pab_out_conv").output.shape[1:] == deepest
    # Each position's output is the softmax over the key positions of query · key,
    # weighting the values (DANet's position attention).
    names = ["pab_query", "pab_key", "pab_value", "pab_attention_map"]
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    query, key, value, attended = probe.predict_on_batch(_batch((64, 64, 3), 1)[0])
    query, key, value = (t.reshape(2, 4, -1) for t in (query, key, value))
    scores = query @ key.transpose(0, 2, 1)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(attended.reshape(2, 4, -1), weights @ value, rtol=1e-4, atol=1e-4)


def test_manet_fusion_attention_blocks():
    model = models.build(MODEL, (64, 64, 3), 1, **SMALL)
    features = dict(zip((2, 4, 8, 16, 32), models.get_encoder(model).outputs))
    for stride, filters in zip((16, 8, 4, 2), SMALL["decoder_channels"]):
        skip = features[stride].shape[1:]
        assert model.get_layer(f"dec{stride}_hl_2_conv").filters == skip[-1]
        assert model.get_layer(f"dec{stride}_se_hl_reduce").filters == max(1, skip[-1] // 16)
        assert model.get_layer(f"dec{stride}_se_ll_pool").input.shape[1:] == skip
        assert model.get_layer(f"dec{stride}_scale").output.shape[1:] == skip
        assert model.get_layer(f"dec{stride}_concat").output.shape[1:] == (*skip[:2], 2 * skip[-1])
        assert model.get_layer(f"dec{stride}_2_conv").filters == filters
    assert model.get_layer("dec1_up").output.shape[1:3] == (64, 64)
    assert "dec1_concat" not in [layer.name for layer in model.layers]


def test_manet_decoder_channels_need_five_values():
    with pytest.raises(TfsegError, match="decoder_channels needs 5 values"):
        models.build(MODEL, (32, 32, 3), 1, decoder_channels=(16, 8, 8, 8))
