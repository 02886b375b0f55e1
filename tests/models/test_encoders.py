"""Pretrained encoders: weights files, 1-channel folding, freezing, the ImageNet error."""

import keras
import numpy as np
import pytest

from tfseg import models
from tfseg.errors import TfsegError
from tfseg.models.encoders import ENCODERS, fold_first_kernel

SHAPE = (32, 32, 3)
TINY_UNET = dict(decoder_filters=(8, 8, 4, 4, 4))


@pytest.fixture(scope="module")
def mobilenet_weights(tmp_path_factory):
    """A keras.applications MobileNetV2 backbone (random weights, BatchNorm statistics set
    away from their defaults) saved as a .weights.h5 file."""
    backbone = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=SHAPE)
    rng = np.random.default_rng(0)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2, variance.shape)])
    path = tmp_path_factory.mktemp("weights") / "mobilenetv2.weights.h5"
    backbone.save_weights(path)
    return backbone, path


def test_encoder_weights_file_is_loaded(mobilenet_weights, tmp_path):
    backbone, path = mobilenet_weights
    model = models.build("unet_mobilenetv2", SHAPE, 1, encoder_weights=str(path), **TINY_UNET)
    encoder = models.get_encoder(model)
    assert encoder.name == "encoder" and model.get_layer("encoder") is encoder
    for layer in encoder.layers[1:]:
        for got, want in zip(layer.get_weights(), backbone.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(got, want)
    # A file of the encoder itself loads too.
    encoder.save_weights(tmp_path / "encoder.weights.h5")
    again = models.build("linknet_mobilenetv2", SHAPE, 1, encoder_weights=str(tmp_path / "encoder.weights.h5"))
    np.testing.assert_array_equal(models.get_encoder(again).get_layer("Conv1").kernel, encoder.get_layer("Conv1").kernel)


def test_one_channel_model_matches_three_channel_model_on_grey_images(mobilenet_weights):
    _, path = mobilenet_weights
    rgb = models.build("unet_mobilenetv2", SHAPE, 1, encoder_weights=str(path), **TINY_UNET)
    grey = models.build("unet_mobilenetv2", (32, 32, 1), 1, encoder_weights=str(path), **TINY_UNET)
    assert models.get_encoder(grey).get_layer("Conv1").kernel.shape[2] == 1
    for layer in grey.layers:  # same decoder weights
        if layer.name != "encoder" and layer.weights:
            layer.set_weights(rgb.get_layer(layer.name).get_weights())
    image = np.random.default_rng(1).random((2, 32, 32, 1), dtype="float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(grey(image, training=False)),
        keras.ops.convert_to_numpy(rgb(np.repeat(image, 3, axis=-1), training=False)),
        atol=1e-5,
    )


def test_fold_first_kernel():
    kernel = np.random.default_rng(2).normal(size=(3, 3, 3, 8)).astype("float32")
    np.testing.assert_allclose(fold_first_kernel(kernel, 1, (0.5, 0.5, 0.5), bgr=False), kernel.sum(2, keepdims=True), rtol=1e-6)
    # Per-channel std: each RGB kernel is weighted by mean(std) / its std (BGR order reversed).
    folded = fold_first_kernel(kernel, 1, (0.1, 0.2, 0.3), bgr=True)
    np.testing.assert_allclose(folded[..., 0, :], kernel[..., 0, :] * 2 / 3 + kernel[..., 1, :] + kernel[..., 2, :] * 2, rtol=1e-5)
    five = fold_first_kernel(kernel, 5, (0.5, 0.5, 0.5), bgr=False)
    np.testing.assert_allclose(five, np.concatenate([kernel, kernel[:, :, :2]], axis=2) * 3 / 5, rtol=1e-6)


def test_freeze_and_unfreeze_the_encoder():
    model = models.build("linknet_mobilenetv2", SHAPE, 1, encoder_freeze=True, final_filters=4)
    encoder = models.get_encoder(model)
    assert not encoder.trainable
    encoder_ids = {id(weight) for weight in encoder.weights}
    assert model.trainable_weights and not encoder_ids & {id(weight) for weight in model.trainable_weights}
    models.set_encoder_trainable(model, True)
    assert encoder.trainable and encoder_ids <= {id(weight) for weight in model.weights}
    assert len(model.trainable_weights) > len(encoder.trainable_weights) > 0
    unet = models.build("unet", SHAPE, 1, depth=2, base_filters=4)
    assert models.get_encoder(unet) is None
    with pytest.raises(TfsegError, match="model 'unet' has no pretrained encoder"):
        models.set_encoder_trainable(unet, False)


@pytest.mark.parametrize("encoder", ["mobilenetv2", "resnet18", "regnety002"])  # each weights source
def test_imagenet_weights_download_or_clear_error(encoder):
    try:
        model = models.build(f"linknet_{encoder}", SHAPE, 1, encoder_weights="imagenet", final_filters=4)
    except TfsegError as error:  # no network, as on the development machines
        message = str(error)
        assert message.startswith(f"{encoder}: ImageNet weights not cached and cannot be downloaded (")
        assert f"run 'tfseg weights download {encoder}'" in message and "\n" not in message
    else:  # network: the downloaded weights are in the encoder
        assert np.abs(models.get_encoder(model).trainable_weights[0]).sum() > 0


def test_bad_weights_files_and_sizes(mobilenet_weights, tmp_path):
    _, path = mobilenet_weights
    with pytest.raises(TfsegError, match="encoder_weights: file .*missing.h5 does not exist"):
        models.build("unet_mobilenetv2", SHAPE, 1, encoder_weights=str(tmp_path / "missing.h5"))
    with pytest.raises(TfsegError, match=f"encoder_weights: {path} matches neither the DenseNet121 backbone \\(keras.applications\\)"):
        models.build("unet_densenet121", SHAPE, 1, encoder_weights=str(path))
    with pytest.raises(TfsegError, match="input height 48 is not a multiple of the output stride 32; nearest valid sizes: 32 or 64"):
        models.build("unet_effb3", (48, 64, 3), 1)
    with pytest.raises(TfsegError, match="encoder_weights: expected none, imagenet or a file path"):
        models.build("unet_mobilenetv2", SHAPE, 1, encoder_weights=3)


def test_encoder_flags_become_model_options():
    from tfseg.cli import train_parser
    from tfseg.config import OPTIONS, load_config
    from tfseg.options import overrides_from_flags

    args = train_parser().parse_args(["--encoder-weights", "none", "--encoder-freeze"])
    config = load_config(None, overrides_from_flags(args, OPTIONS))
    assert config.model.options == {"encoder_weights": "none", "encoder_freeze": True}


def test_torchvision_checkpoint_loads_into_a_resnet34_model_at_3_and_1_channels(tmp_path):
    """A file in torchvision's published format (resnet34-b627a593.pth's layout), given as
    --encoder-weights, lands in the model's encoder; one channel gets the folded kernel."""
    from tests.models.test_backbones_resnet import random_state
    from tfseg.models.backbones.torch_checkpoint import write_state_dict

    state = random_state(34, seed=2)
    path = tmp_path / "resnet34-b627a593.pth"
    write_state_dict(path, state)
    rgb = models.get_encoder(models.build("unet_resnet34", SHAPE, 1, encoder_weights=str(path), **TINY_UNET))
    np.testing.assert_array_equal(rgb.get_layer("conv1").kernel, state["conv1.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(rgb.get_layer("layer4.2.bn2").moving_variance, state["layer4.2.bn2.running_var"])
    np.testing.assert_array_equal(rgb.get_layer("layer3.0.downsample.0").kernel, state["layer3.0.downsample.0.weight"].transpose(2, 3, 1, 0))
    grey = models.get_encoder(models.build("unet_resnet34", (32, 32, 1), 1, encoder_weights=str(path), **TINY_UNET))
    expected = fold_first_kernel(state["conv1.weight"].transpose(2, 3, 1, 0), 1, ENCODERS["resnet34"].std, bgr=False)
    np.testing.assert_allclose(grey.get_layer("conv1").kernel, expected, rtol=1e-6)
    np.testing.assert_array_equal(grey.get_layer("layer1.0.conv1").kernel, rgb.get_layer("layer1.0.conv1").kernel)


def test_smp_spellings_of_encoders_map_to_tfseg_names():
    from tfseg.models.encoders import encoder_key

    spellings = {
        "efficientnet-b3": "effb3", "resnet34": "resnet34", "mobilenet_v2": "mobilenetv2", "vgg16": "vgg16",
        "tu-tf_efficientnetv2_b0": "effv2b0", "tu-convnext_tiny": "convnext_tiny", "timm-regnety_002": "regnety002",
        "EfficientNetB0": "effb0", "efficientnetb3": "effb3",  # keras.applications, segmentation_models
    }
    assert {given: encoder_key(given) for given in spellings} == spellings
    assert models.entry("unet", "efficientnet-b3").name == "unet_effb3"
    with pytest.raises(TfsegError, match="unknown encoder 'efficientnet-b9'; did you mean effb0, "):
        encoder_key("efficientnet-b9")
    with pytest.raises(TfsegError, match="unknown encoder 'mit_b0'; valid: convnext_base, "):
        encoder_key("mit_b0")
