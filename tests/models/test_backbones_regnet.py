"""The Keras 3 RegNetY port: shapes, parameter counts, the tf.keras 2 weights layout
(legacy HDF5, matched by layer order) and the weights-file errors."""

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

from tfseg.errors import TfsegError
from tfseg.models.backbones.regnet import MODEL_CONFIGS, build_regnety, regnety_features

VARIANTS = ("002", "004", "008", "016", "032")

# tf.keras 2 RegNetY{variant}(include_top=False, weights=None).count_params(), measured with
# tf_keras 2.21 (tf_keras/src/applications/regnet.py, the same code as keras 2.13's
# keras/applications/regnet.py); the same for any input size. With the 1000-class head,
# RegNetY002 has 2,814,844 + 368 * 1000 + 1000 = 3,183,844 (keras.io: 3.2M).
TF_KERAS_PARAMS = {
    "002": 2_814_844,
    "004": 3_930_296,
    "008": 5_524_056,
    "016": 10_366_102,
    "032": 17_989_498,
}

# The first weighted layers of the file tf_keras 2.21 writes for RegNetY002 (`layer_names`
# without the layers that have no weights), verbatim.
TF_KERAS_Y002_HEAD = [
    "regnety002_stem_conv",
    "regnety002_stem_bn",
    "regnety002_Stage_0_YBlock_0_conv_1x1_1",
    "regnety002_Stage_0_YBlock_0_conv_1x1_1_bn",
    "regnety002_Stage_0_YBlock_0_conv_3x3",
    "regnety002_Stage_0_YBlock_0_conv_3x3_bn",
    "regnety002_Stage_0_YBlock_0_squeeze_and_excite_squeeze",
    "regnety002_Stage_0_YBlock_0_squeeze_and_excite_excite",
    "regnety002_Stage_0_YBlock_0_conv_1x1_2",
    "regnety002_Stage_0_YBlock_0_skip_1x1",
    "regnety002_Stage_0_YBlock_0_conv_1x1_2_bn",
    "regnety002_Stage_0_YBlock_0_skip_bn",
    "regnety002_Stage_1_YBlock_0_conv_1x1_1",
]


def tf_keras_weighted_layer_order(variant):
    """The weighted layers in the order tf.keras 2 saves them (model.layers: by depth from the
    output, ties in traversal order, so a block's skip conv/BN follow its conv_1x1_2 and
    conv_1x1_2_bn); checked against tf_keras 2.21 for all five variants."""
    config = MODEL_CONFIGS[variant]
    names = [f"regnety{variant}_stem_conv", f"regnety{variant}_stem_bn"]
    for stage, depth in enumerate(config["depths"]):
        for block in range(depth):
            prefix = f"regnety{variant}_Stage_{stage}_YBlock_{block}_"
            names += [prefix + suffix for suffix in (
                "conv_1x1_1", "conv_1x1_1_bn", "conv_3x3", "conv_3x3_bn",
                "squeeze_and_excite_squeeze", "squeeze_and_excite_excite", "conv_1x1_2")]
            names += [prefix + "skip_1x1"] if block == 0 else []
            names += [prefix + "conv_1x1_2_bn"]
            names += [prefix + "skip_bn"] if block == 0 else []
    return names


def _randomize(model, seed=0):
    """Random weights, BatchNorm statistics away from their defaults."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        values = rng.normal(0, 0.1, variable.shape)
        if variable.path.endswith("moving_variance"):
            values = rng.uniform(0.5, 2, variable.shape)
        variable.assign(values.astype("float32"))


def _save_legacy_h5(model, path):
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def _weighted_layer_names(path):
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        return [n for n in names if len(f[n].attrs["weight_names"])]


@pytest.fixture(scope="module")
def y002_legacy_h5(tmp_path_factory):
    """A RegNetY002 port with random weights and its legacy .h5 weights file."""
    model = build_regnety("002", (64, 64, 3))
    _randomize(model)
    path = tmp_path_factory.mktemp("regnet") / "regnety002_notop.h5"
    _save_legacy_h5(model, path)
    return model, path


@pytest.mark.parametrize("variant", VARIANTS)
def test_regnety_features_at_strides_and_param_count(variant):
    model = build_regnety(variant, (64, 64, 3))
    assert model.name == f"regnety{variant}"
    features = regnety_features(variant)
    assert sorted(features) == [2, 4, 8, 16, 32]
    sizes = {stride: model.get_layer(name).output.shape[1:3] for stride, name in features.items()}
    assert sizes == {2: (32, 32), 4: (16, 16), 8: (8, 8), 16: (4, 4), 32: (2, 2)}
    assert model.get_layer(features[32]).output is model.output
    widths = [model.get_layer(features[4 * 2**stage]).output.shape[-1] for stage in range(4)]
    assert widths == list(MODEL_CONFIGS[variant]["widths"])
    assert model.count_params() == TF_KERAS_PARAMS[variant]


def test_regnety_param_count_does_not_depend_on_input_size():
    assert build_regnety("002", (224, 224, 3)).count_params() == TF_KERAS_PARAMS["002"]
    assert build_regnety("002", (None, None, 3)).count_params() == TF_KERAS_PARAMS["002"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_regnety_legacy_h5_layer_order_matches_tf_keras(variant, tmp_path):
    model = build_regnety(variant, (64, 64, 3))
    path = tmp_path / f"regnety{variant}_notop.h5"
    _save_legacy_h5(model, path)
    assert _weighted_layer_names(path) == tf_keras_weighted_layer_order(variant)
    if variant == "002":
        assert _weighted_layer_names(path)[: len(TF_KERAS_Y002_HEAD)] == TF_KERAS_Y002_HEAD
    # tf.keras 2 saves trainable then non-trainable weights per layer; so does Keras 3.
    bn = model.get_layer(f"regnety{variant}_stem_bn")
    assert [v.name for v in bn.trainable_weights + bn.non_trainable_weights] == [
        "gamma", "beta", "moving_mean", "moving_variance"]


def test_regnety_legacy_h5_loads_back_exactly(y002_legacy_h5):
    source, path = y002_legacy_h5
    loaded = build_regnety("002", (None, None, 3), weights=str(path))
    assert len(loaded.weights) == len(source.weights)
    for expected, actual in zip(source.weights, loaded.weights):
        assert actual.path == expected.path
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(actual), keras.ops.convert_to_numpy(expected))
    x = np.random.default_rng(1).random((1, 64, 64, 3), dtype="float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), source.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_regnety_keras_weights_file_loads_back_exactly(tmp_path):
    source = build_regnety("004", (64, 64, 3))
    _randomize(source, seed=2)
    path = tmp_path / "regnety004.weights.h5"
    source.save_weights(path)
    loaded = build_regnety("004", (64, 64, 3), weights=path)
    for expected, actual in zip(source.weights, loaded.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(actual), keras.ops.convert_to_numpy(expected))


def test_regnety_another_variants_file_is_an_error_naming_it(y002_legacy_h5, tmp_path):
    _, path = y002_legacy_h5
    with pytest.raises(TfsegError, match="regnety004") as raised:
        build_regnety("004", (64, 64, 3), weights=path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
    assert "Layer count mismatch" in str(raised.value)

    keras_file = tmp_path / "regnety002.weights.h5"
    build_regnety("002", (64, 64, 3)).save_weights(keras_file)
    with pytest.raises(TfsegError) as raised:
        build_regnety("008", (64, 64, 3), weights=keras_file)
    assert str(keras_file) in str(raised.value) and "\n" not in str(raised.value)


def test_regnety_missing_or_foreign_file_is_an_error(tmp_path):
    missing = tmp_path / "absent.h5"
    with pytest.raises(TfsegError, match="does not exist") as raised:
        build_regnety("002", (64, 64, 3), weights=missing)
    assert str(missing) in str(raised.value)
    text = tmp_path / "weights.txt"
    text.write_text("not weights")
    with pytest.raises(TfsegError) as raised:
        build_regnety("002", (64, 64, 3), weights=text)
    assert str(text) in str(raised.value) and "\n" not in str(raised.value)


def test_regnety_unknown_variant():
    with pytest.raises(TfsegError, match="unknown RegNetY variant '006'"):
        build_regnety("006", (64, 64, 3))
    with pytest.raises(TfsegError, match="unknown RegNetY variant"):
        regnety_features("320")
