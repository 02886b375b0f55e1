"""The model registry: names, unknown names and options, and the name × input matrix,
generated from the registry.

Every registered name building and taking one training step for 1-channel binary and
3-channel 4-class input is `test_every_name_trains_one_step`, marked `zoo` (about 760
cases, an hour of CPU; deselected by default, run it with
`python -m pytest -m zoo -n <cores>`). The default suite covers both axes of that
matrix in a few minutes: the first (smallest) encoder of each family and weights source takes a step made
dilated to output stride 8 under DeepLabV3+ (dilation is where encoder families differ
most; every encoder does under `zoo`), and every architecture takes a step, checking its
probabilities, on two of the encoders in `ENCODER_KINDS` (each a way an encoder can hand
over its features; each kind meets three or four decoders), one on each input.
"""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.conftest import _batch
from tfseg import losses, models
from tfseg.errors import TfsegError
from tfseg.models import registry
from tfseg.models.encoders import ENCODERS
from tfseg.models.registry import markdown

INPUTS_CASES = [((32, 32, 1), 1), ((32, 64, 3), 4)]
"""A square grey binary input and a non-square RGB 4-class one."""
INPUTS = pytest.mark.parametrize("shape, classes", INPUTS_CASES, ids=["grey-binary", "rgb-4class"])


ENCODER_KINDS = {
    "resnet18": "tfseg's torchvision-layout ResNet: explicit padding and valid convolutions",
    "mobilenetv3small": "features at layers' inputs; the stride-32 feature is the backbone's output",
    "effb0": "keras.applications cut after its own preprocessing layers",
    "regnety002": "tfseg's port of the tf.keras 2 RegNet",
    "convnext_tiny": "no stride-2 feature (the encoder derives it); nested Sequential blocks",
    "vgg16": "a stride-1 feature and a pooled stride-32 feature",
}


def cover() -> list:
    """(name, input) pairs: every model with its own encoder on both inputs, and every
    decoder on two of `ENCODER_KINDS` (the i-th decoder on kinds i and i + 3, so each kind
    meets as many decoders), one on each input."""
    kinds = list(ENCODER_KINDS)
    cases = []
    decoders = [architecture for architecture in models.architectures() if architecture.takes_encoder]
    for architecture in models.architectures():
        if not architecture.takes_encoder:
            cases += [(architecture.name, shape, classes) for shape, classes in INPUTS_CASES]
    for index, architecture in enumerate(decoders):
        for offset, (shape, classes) in enumerate(INPUTS_CASES):
            encoder = kinds[(index + offset * len(kinds) // 2) % len(kinds)]
            cases.append((f"{architecture.name}_{encoder}", shape, classes))
    return cases


def build_and_step(name, shape, classes, **options):
    """Builds `name`, checks its output (float32 probabilities: sigmoid for one class,
    softmax for more), takes one SGD step and checks that both the head and the first layer
    moved (the gradient reaches the input end)."""
    model = models.build(name, shape, classes, **options)
    activation = "sigmoid" if classes == 1 else "softmax"
    assert model.output_shape == (None, *shape[:2], classes)
    assert model.layers[-1].name == f"head_{activation}" and model.layers[-1].dtype_policy.name == "float32"
    x, y = _batch(shape, classes)
    out = keras.ops.convert_to_numpy(keras.tree.flatten(model(x, training=False))[-1])
    assert out.shape == (2, *shape[:2], classes) and np.isfinite(out).all()
    if classes == 1:
        assert 0 <= out.min() and out.max() <= 1
    else:
        np.testing.assert_allclose(out.sum(-1), 1, rtol=1e-5)
    model.compile(
        keras.optimizers.SGD(0.1),  # SGD: an eager step costs half of Adam's
        losses.get("bce+dice" if classes == 1 else "ce+dice", classes),
        run_eagerly=True,  # one step: tracing a graph would take far longer than the step
    )
    ends = [model.get_layer("head_conv").kernel, model.trainable_weights[0]]
    before = [keras.ops.convert_to_numpy(weight) for weight in ends]
    loss = float(keras.ops.convert_to_numpy(model.train_on_batch(x, y)))
    assert np.isfinite(loss) and loss > 0
    for weight, old in zip(ends, before):
        assert not np.allclose(keras.ops.convert_to_numpy(weight), old), f"{weight.path} did not change"
    return model


def small_step(name, shape, classes, **options):
    """`build_and_step` with the registry's small options for `name`."""
    model = build_and_step(name, shape, classes, **models.entry(name).architecture.small, **options)
    keras.utils.clear_session()
    return model


def test_registry_names_and_unknown_name():
    assert "unet" in models.names()
    with pytest.raises(TfsegError, match="unknown model 'unte'; did you mean unet.*tfseg models"):
        models.build("unte", (32, 32, 1))
    with pytest.raises(TfsegError, match="unexpected keyword argument 'base_filtres'"):
        models.build("unet", (32, 32, 1), base_filtres=4)


def test_registry_holds_every_decoder_on_every_encoder():
    table = models.entries()
    decoders = [a for a in models.architectures() if a.takes_encoder]
    for architecture in decoders:
        for encoder in ENCODERS:
            model_entry = table[f"{architecture.name}_{encoder}"]
            assert model_entry.architecture is architecture and model_entry.encoder == encoder
    own = [a for a in models.architectures() if not a.takes_encoder]
    assert len(table) == len(own) + len(decoders) * len(ENCODERS)
    required = {  # the names the model-zoo issue asked for, with the seed studies' own models
        "unet", "unet_upsample", "unet_convpool", "unetpp", "segnet", "segnet_vgg16", "linknet",
        "unet_resnet34", "unetpp_resnet34", "linknet_resnet18", "fpn_resnet34", "pspnet_resnet34",
        "deeplabv3_resnet50", "deeplabv3plus_resnet34", "manet_resnet34", "pan_resnet34",
        "upernet_convnext_tiny", "segformer_resnet34", "unetpp_regnety004", "unet_mobilenetv3large", "unet_effv2s",
    }
    assert required <= set(table)


def test_models_page_tables_are_generated_from_the_registry():
    page = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text()
    generated = page.split("<!-- generated: python -m tfseg.models -->\n")[1].split("\n<!-- end generated -->")[0]
    assert generated == markdown(), "docs/models.md is stale: paste the output of python -m tfseg.models"


def test_every_architecture_documents_itself():
    for architecture in models.architectures():
        assert architecture.family and architecture.when and "\n" not in architecture.when
        assert architecture.builder.__doc__, architecture.name
        assert set(architecture.peers) <= {"sm", "smp"}


def test_build_takes_the_decoder_and_the_encoder_apart():
    apart = models.build("linknet", encoder="mobilenetv3small", input_shape=(32, 32, 3), classes=2, final_filters=4)
    named = models.build("linknet_mobilenetv3small", (32, 32, 3), 2, final_filters=4)
    assert apart.name == named.name == "linknet_mobilenetv3small"
    assert [layer.name for layer in apart.layers] == [layer.name for layer in named.layers]
    assert apart.count_params() == named.count_params()
    assert models.entry("unet", encoder="resnet34") == models.entry("unet_resnet34")
    assert models.entry("unet").encoder is None  # without an encoder, `unet` is U-Net with its own
    models.entry("unet").check_options({"encoder": "resnet34", "decoder_filters": (8, 8, 4, 4, 4)})  # as a config sets it
    with pytest.raises(TfsegError, match="not options of model 'unet_resnet34'"):
        models.entry("unet").check_options({"encoder": "resnet34", "depth": 3})
    with pytest.raises(TfsegError, match="model 'segnet' takes no encoder='resnet34'; decoders that do: deeplabv3, .*, upernet$"):
        models.build("segnet", (32, 32, 3), encoder="resnet34")
    with pytest.raises(TfsegError, match="model 'unet_resnet34' takes no encoder='resnet34'"):
        models.build("unet_resnet34", (32, 32, 3), encoder="resnet34")
    with pytest.raises(TfsegError, match="unknown encoder 'resnet35'; did you mean resnet34, .* valid: .*resnet34"):
        models.build("unet", (32, 32, 3), encoder="resnet35")
    keras.utils.clear_session()


def test_registering_a_name_twice_is_an_error(monkeypatch):
    models.architectures()  # the package's own registrations first
    monkeypatch.setattr(registry, "_ARCHITECTURES", dict(registry._ARCHITECTURES))

    def build_again(input_shape, classes=1):
        """A stand-in builder."""

    with pytest.raises(TfsegError, match=r"model 'unet' is registered twice: by tfseg\.models\.unet\.build_unet and "
                                         r"tests\.models\.test_registry\..*build_again$"):
        registry.register_model("unet", family="U-Net", when="again")(build_again)
    with pytest.raises(TfsegError, match=r"model 'fpn_<encoder>' is registered twice"):
        registry.register_decoder("fpn", family="FPN", when="again")(build_again)
    registry.register_model("fpn_resnet34", family="FPN", when="a name a decoder on an encoder has")(build_again)
    with pytest.raises(TfsegError, match="model 'fpn_resnet34' is registered twice: as decoder 'fpn' on encoder "
                                         "'resnet34' and as model 'fpn_resnet34'"):
        models.names()


@pytest.mark.slow
@pytest.mark.parametrize("name, shape, classes", cover(), ids=lambda value: str(value).replace(" ", ""))
def test_every_architecture_trains_one_step_on_two_encoder_kinds(name, shape, classes):
    small_step(name, shape, classes)


FIRST_OF_FAMILY = {(spec.family, spec.weights_source): name for name, spec in reversed(ENCODERS.items())}
"""The first encoder of each family and source (e.g. ResNet from torchvision and from
keras.applications), its smallest: the default suite dilates these; the other sizes are
built by the same code and are dilated under the `zoo` marker."""


@pytest.mark.parametrize("encoder", [
    name if name in FIRST_OF_FAMILY.values() else pytest.param(name, marks=pytest.mark.zoo) for name in ENCODERS
])
@pytest.mark.slow
def test_every_encoder_trains_one_step_dilated_to_stride_8(encoder):
    model = small_step(f"deeplabv3plus_{encoder}", (32, 32, 3), 4, encoder_output_stride=8)
    sizes = [tuple(output.shape[1:3]) for output in models.get_encoder(model).outputs]
    assert sizes == [(16, 16), (8, 8), (4, 4), (4, 4), (4, 4)]  # strides 2, 4, 8, then 8 (dilated)


@pytest.mark.zoo
@pytest.mark.parametrize("name", models.names())
@INPUTS
def test_every_name_trains_one_step(name, shape, classes):
    small_step(name, shape, classes)


@pytest.mark.parametrize(
    "name",
    [a.name if not a.takes_encoder else f"{a.name}_mobilenetv3small" for a in models.architectures()],
)
@pytest.mark.slow
def test_keras_round_trip_per_architecture(name, tmp_path):
    options = dict(models.entry(name).architecture.small)
    if name == "unetpp":
        options["deep_supervision"] = True  # several outputs
    model = models.build(name, (32, 32, 3), 1, **options)
    x, _ = _batch((32, 32, 3), 1)
    expected = keras.tree.map_structure(keras.ops.convert_to_numpy, model(x, training=False))
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")  # no custom_objects
    for got, want in zip(keras.tree.flatten(restored(x, training=False)), keras.tree.flatten(expected)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want, atol=1e-6)
    keras.utils.clear_session()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["unetpp", "linknet_mobilenetv2"])
def test_saved_model_export_serves_the_same_predictions(name, tmp_path):
    options = dict(models.entry(name).architecture.small)
    model = models.build(name, (32, 32, 3), 1, **options)
    x, _ = _batch((32, 32, 3), 1)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    model.export(str(tmp_path / "export"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "export"))  # keep a reference: it owns the variables
    np.testing.assert_allclose(np.asarray(reloaded.serve(tf.constant(x))), expected, atol=1e-5)
