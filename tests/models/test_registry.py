"""The model registry: names, unknown names and options; every registered model builds for
1-channel binary and 3-channel 4-class input and takes one training step; each family
round-trips through `.keras` and SavedModel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.conftest import DECODER_OPTIONS, PLAIN, _batch
from tfseg import losses, models
from tfseg.errors import TfsegError
from tfseg.models.encoders import ENCODERS


def has_encoder_decoder(name):
    """True for `<decoder>_<encoder>` names: a decoder of DECODER_OPTIONS on a keras.applications encoder."""
    decoder, _, encoder = name.partition("_")
    return decoder in DECODER_OPTIONS and encoder in ENCODERS


def tiny_options(name):
    """The small-width options of a registered name (the pretrained encoders keep their size)."""
    return DECODER_OPTIONS[name.partition("_")[0]] if has_encoder_decoder(name) else PLAIN.get(name, {})


def build_and_step(name, shape, classes, **options):
    """Builds `name`, checks its output, takes one SGD step and checks that both the
    head and the first layer moved (the gradient reaches the input end)."""
    model = models.build(name, shape, classes, **options)
    assert model.output_shape == (None, *shape[:2], classes)
    assert model.layers[-1].dtype_policy.name == "float32"
    model.compile(
        keras.optimizers.SGD(0.1),  # SGD: an eager step costs half of Adam's
        losses.get("bce+dice" if classes == 1 else "ce+dice", classes),
        run_eagerly=True,  # one step: tracing a graph would take far longer than the step
    )
    x, y = _batch(shape, classes)
    ends = [model.get_layer("head_conv").kernel, model.trainable_weights[0]]
    before = [keras.ops.convert_to_numpy(weight) for weight in ends]
    loss = float(keras.ops.convert_to_numpy(model.train_on_batch(x, y)))
    assert np.isfinite(loss) and loss > 0
    for weight, old in zip(ends, before):
        assert not np.allclose(keras.ops.convert_to_numpy(weight), old), f"{weight.path} did not change"
    return model


def test_registry_names_and_unknown_name():
    assert "unet" in models.names()
    with pytest.raises(TfsegError, match="unknown model 'unte'; valid: .*unet"):
        models.build("unte", (32, 32, 1))
    with pytest.raises(TfsegError, match="unexpected keyword argument 'base_filtres'"):
        models.build("unet", (32, 32, 1), base_filtres=4)


def test_registry_lists_every_family_and_encoder():
    required = {"unet", "unet_upsample", "unet_convpool", "unetpp", "segnet", "segnet_vgg16", "linknet",
                "unet_effb3", "linknet_effb3", "unetpp_effb3", "unet_resnet50", "linknet_mobilenetv2"}
    assert required <= set(models.names())
    encoder_names = {f"{decoder}_{encoder}" for decoder in DECODER_OPTIONS for encoder in ENCODERS}
    assert set(models.names()) == set(PLAIN) | {"segnet_vgg16"} | encoder_names
    assert {name for name in models.names() if has_encoder_decoder(name)} == encoder_names
    assert len(ENCODERS) == 16  # EfficientNetB0-B7, ResNet50/101 v1 and v2, VGG16/19, DenseNet121, MobileNetV2


@pytest.mark.parametrize("name", models.names())
@pytest.mark.parametrize("shape, classes", [((32, 32, 1), 1), ((32, 32, 3), 4)], ids=["grey-binary", "rgb-4class"])
def test_builds_and_trains_one_step(name, shape, classes):
    model = build_and_step(name, shape, classes, **tiny_options(name))
    if has_encoder_decoder(name):  # the skips come from strides 2 to 32
        encoder = models.get_encoder(model)
        assert [tuple(output.shape[1:3]) for output in encoder.outputs] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    keras.utils.clear_session()


@pytest.mark.parametrize(
    "name, options",
    [
        ("unet_upsample", PLAIN["unet_upsample"]),
        ("unetpp", dict(PLAIN["unetpp"], deep_supervision=True)),
        ("segnet", PLAIN["segnet"]),
        ("linknet_mobilenetv2", DECODER_OPTIONS["linknet"]),  # also the LinkNet decoder
    ],
)
def test_keras_and_saved_model_round_trips(name, options, tmp_path):
    model = models.build(name, (32, 32, 3), 1, **options)
    x, _ = _batch((32, 32, 3), 1)
    expected = keras.tree.map_structure(keras.ops.convert_to_numpy, model(x, training=False))
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")  # no custom_objects
    for got, want in zip(keras.tree.flatten(restored(x, training=False)), keras.tree.flatten(expected)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want, atol=1e-6)
    model.export(str(tmp_path / "export"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "export"))  # keep a reference: it owns the variables
    served = reloaded.serve(tf.constant(x))
    for got, want in zip(keras.tree.flatten(served), keras.tree.flatten(expected)):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
