"""Pretrained encoders from keras.applications, one registry entry per backbone.

Each entry names the backbone, the layers whose outputs are the skip features by output
stride (looked up by layer name, never by index) and the ImageNet preprocessing the
backbone's weights expect. `build_encoder` returns the backbone as one functional
`keras.Model` named "encoder" whose outputs are the features at strides 2, 4, 8, 16, 32
(VGG also 1); the preprocessing is a separate `ImageNormalization` layer in front of it,
so the models built on it take images in [0, 1].
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tfseg.errors import TfsegError
from tfseg.models.blocks import check_input_shape

# ImageNet statistics in RGB order, for images in [0, 1].
_TORCH_MEAN, _TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_CAFFE_MEAN, _CAFFE_STD = (123.68 / 255, 116.779 / 255, 103.939 / 255), (1 / 255,) * 3
_TF_MEAN, _TF_STD = (0.5,) * 3, (0.5,) * 3


@dataclass(frozen=True)
class EncoderSpec:
    """How to build one backbone and where its skip features are.

    Attributes:
        application: str. Name of the `keras.applications` function, e.g. "EfficientNetB3".
        features: dict. Output stride → name of the layer whose output is the feature.
        mean: RGB means for images in [0, 1] that the ImageNet weights expect.
        std: RGB standard deviations for images in [0, 1].
        bgr: bool. The weights expect BGR channel order (Caffe-style). Defaults to False.
        input_layer: str or None. Cut the backbone at this layer's input, leaving out the
            backbone's own preprocessing layers (tfseg's `ImageNormalization` replaces
            them). None keeps the backbone from its input. Defaults to None.
        pooled_bottom: bool. The stride-32 feature is a max-pooling output with no
            convolution after it (VGG); the U-Net decoder then starts with a centre block,
            as segmentation_models and segmentation_models.pytorch do. Defaults to False.
    """

    application: str
    features: dict[int, str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    bgr: bool = False
    input_layer: str | None = None
    pooled_bottom: bool = False


def _efficientnet(variant: str) -> EncoderSpec:
    return EncoderSpec(
        f"EfficientNet{variant}",
        {
            2: "block2a_expand_activation",
            4: "block3a_expand_activation",
            8: "block4a_expand_activation",
            16: "block6a_expand_activation",
            32: "top_activation",
        },
        _TORCH_MEAN,
        _TORCH_STD,
        input_layer="stem_conv_pad",
    )


def _resnet(application: str, stage4_blocks: int) -> EncoderSpec:
    features = {
        2: "conv1_relu",
        4: "conv2_block3_out",
        8: "conv3_block4_out",
        16: f"conv4_block{stage4_blocks}_out",
        32: "conv5_block3_out",
    }
    return EncoderSpec(application, features, _CAFFE_MEAN, _CAFFE_STD, bgr=True)


def _resnet_v2(application: str, stage4_blocks: int) -> EncoderSpec:
    # ResNet-V2 downsamples in the last block of a stage, so the stride-s feature is the
    # pre-activation of that last block.
    features = {
        2: "conv1_conv",
        4: "conv2_block3_1_relu",
        8: "conv3_block4_1_relu",
        16: f"conv4_block{stage4_blocks}_1_relu",
        32: "post_relu",
    }
    return EncoderSpec(application, features, _TF_MEAN, _TF_STD)


def _vgg(application: str, last_conv: int) -> EncoderSpec:
    features = {1: "block1_conv2", 2: "block2_conv2"}
    features.update({stride: f"block{block}_conv{last_conv}" for stride, block in ((4, 3), (8, 4), (16, 5))})
    features[32] = "block5_pool"
    return EncoderSpec(application, features, _CAFFE_MEAN, _CAFFE_STD, bgr=True, pooled_bottom=True)


ENCODERS: dict[str, EncoderSpec] = {
    **{f"effb{i}": _efficientnet(f"B{i}") for i in range(8)},
    "resnet50": _resnet("ResNet50", 6),
    "resnet101": _resnet("ResNet101", 23),
    "resnet50v2": _resnet_v2("ResNet50V2", 6),
    "resnet101v2": _resnet_v2("ResNet101V2", 23),
    "vgg16": _vgg("VGG16", 3),
    "vgg19": _vgg("VGG19", 4),
    "densenet121": EncoderSpec(
        "DenseNet121",
        {2: "conv1_relu", 4: "pool2_relu", 8: "pool3_relu", 16: "pool4_relu", 32: "relu"},
        _TORCH_MEAN,
        _TORCH_STD,
    ),
    "mobilenetv2": EncoderSpec(
        "MobileNetV2",
        {
            2: "block_1_expand_relu",
            4: "block_3_expand_relu",
            8: "block_6_expand_relu",
            16: "block_13_expand_relu",
            32: "out_relu",
        },
        _TF_MEAN,
        _TF_STD,
    ),
}

ENCODER_STRIDE = 32


def get_spec(encoder: str) -> EncoderSpec:
    """The registry entry of `encoder`; an unknown name's error lists the valid ones."""
    if encoder not in ENCODERS:
        raise TfsegError(f"unknown encoder {encoder!r}; valid: {', '.join(sorted(ENCODERS))}")
    return ENCODERS[encoder]


@keras.saving.register_keras_serializable(package="tfseg")
class ImageNormalization(keras.layers.Layer):
    """Maps images in [0, 1] to what a pretrained backbone expects: `(x - mean) / std` per
    channel, then optionally reverses the channel order (RGB → BGR).

    Args:
        mean: list of float. Per-channel mean (input channel order), one per channel.
        std: list of float. Per-channel standard deviation, one per channel.
        reverse_channels: bool. Reverse the channel order after normalising. Defaults to False.
    """

    def __init__(self, mean, std, reverse_channels: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.mean = [float(value) for value in mean]
        self.std = [float(value) for value in std]
        self.reverse_channels = reverse_channels

    def call(self, images):
        mean = keras.ops.convert_to_tensor(self.mean, dtype=self.compute_dtype)
        std = keras.ops.convert_to_tensor(self.std, dtype=self.compute_dtype)
        normalized = (keras.ops.cast(images, self.compute_dtype) - mean) / std
        return keras.ops.flip(normalized, axis=-1) if self.reverse_channels else normalized

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std, "reverse_channels": self.reverse_channels}


def preprocessing_layer(encoder: str, channels: int) -> ImageNormalization:
    """The `ImageNormalization` layer for `encoder` with `channels` input channels.

    For one channel the mean and standard deviation are averaged over RGB, matching
    `fold_first_kernel` (exact when the three channels share their statistics, as for
    MobileNetV2 and ResNet-V2).
    """
    spec = get_spec(encoder)
    if channels == 3:
        return ImageNormalization(spec.mean, spec.std, reverse_channels=spec.bgr, name="preprocessing")
    return ImageNormalization(
        [float(np.mean(spec.mean))] * channels, [float(np.mean(spec.std))] * channels, name="preprocessing"
    )


def fold_first_kernel(kernel: np.ndarray, channels: int, rgb_std, bgr: bool) -> np.ndarray:
    """Adapts the RGB kernel of the first convolution to `channels` input channels.

    One channel: the sum over RGB of each kernel divided by its channel's std and times
    the averaged std (so a grey image gives what its RGB repetition gives when the RGB
    statistics agree); C channels: the RGB kernels repeated and scaled by 3/C, as in
    segmentation_models.pytorch's `patch_first_conv`.

    Args:
        kernel: array (kh, kw, 3, filters) of the 3-channel backbone.
        channels: int. Input channels of the new backbone.
        rgb_std: the encoder's RGB standard deviations.
        bgr: bool. The kernel's input channels are in BGR order.
    """
    if channels == 1:
        std = np.asarray(rgb_std[::-1] if bgr else rgb_std, dtype=kernel.dtype)
        return (kernel * (np.mean(std) / std)[None, None, :, None]).sum(axis=2, keepdims=True)
    repeats = -(-channels // 3)
    return np.concatenate([kernel] * repeats, axis=2)[:, :, :channels] * (3 / channels)


def _application(spec: EncoderSpec, input_shape, weights):
    return getattr(keras.applications, spec.application)(include_top=False, weights=weights, input_shape=input_shape)


def _load_imagenet(spec: EncoderSpec, input_shape) -> keras.Model:
    try:
        return _application(spec, input_shape, "imagenet")
    except Exception as error:  # keras raises a bare Exception on a failed download
        raise TfsegError(
            f"encoder_weights='imagenet': the ImageNet weights of {spec.application} could not be "
            f"downloaded ({str(error).splitlines()[0]}); download them where there is network "
            f"and pass the file with --encoder-weights PATH (model.options.encoder_weights)"
        ) from None


def _cut(backbone: keras.Model, spec: EncoderSpec, strides) -> keras.Model:
    """The backbone from `spec.input_layer` (or its input) to the feature layers, as one
    functional model named "encoder" with one output per stride."""
    inputs = backbone.get_layer(spec.input_layer).input if spec.input_layer else backbone.input
    outputs = [backbone.get_layer(spec.features[stride]).output for stride in strides]
    return keras.Model(inputs, outputs, name="encoder")


def _load_file(path: str, spec: EncoderSpec, backbone: keras.Model, encoder: keras.Model) -> None:
    """Loads a weights file of the keras.applications backbone or of the cut encoder."""
    if not Path(path).is_file():
        raise TfsegError(f"encoder_weights: file {path} does not exist (expected a .weights.h5 or .h5 file)")
    errors = []
    for target in (backbone, encoder):
        try:
            with warnings.catch_warnings():
                # keras only warns when a file's layers do not match; make that an error
                warnings.simplefilter("error")
                target.load_weights(path)
            return
        except Exception as error:  # a mismatch is a ValueError, KeyError or the warning
            errors.append(str(error).splitlines()[0].split(". ")[0][:160])
    raise TfsegError(
        f"encoder_weights: {path} matches neither the keras.applications {spec.application} "
        f"(include_top=False) nor its encoder ({errors[0]})"
    )


def copy_weights(source: keras.Model, target: keras.Model, spec: EncoderSpec) -> None:
    """Copies weights layer by layer (matched by name) from a 3-channel encoder into an
    encoder with another number of input channels, folding the first conv kernel."""
    channels = target.input.shape[-1]
    for layer in target.layers:
        if not layer.weights:
            continue
        values = source.get_layer(layer.name).get_weights()
        own_shapes = [tuple(weight.shape) for weight in layer.weights]
        if own_shapes != [value.shape for value in values]:
            values[0] = fold_first_kernel(values[0], channels, spec.std, spec.bgr)
        layer.set_weights(values)


def build_encoder(
    encoder: str,
    input_shape: tuple[int, int, int],
    weights: str | None = None,
    strides=(2, 4, 8, 16, 32),
) -> keras.Model:
    """Builds the backbone `encoder` as one functional model named "encoder".

    Args:
        encoder: str. A key of `ENCODERS`, e.g. "effb3", "resnet50", "mobilenetv2".
        input_shape: (height, width, channels) of the images.
        weights: None (random), "imagenet" (downloaded by keras.applications) or the path
            of a weights file of the keras.applications backbone (`include_top=False`) or
            of this encoder, saved with `save_weights`. Pretrained 3-channel weights are
            folded into other channel counts (see `fold_first_kernel`). Defaults to None.
        strides: the output strides of the features, in order. Defaults to (2, 4, 8, 16, 32).

    Returns:
        A `keras.Model` taking normalised images (see `preprocessing_layer`) and returning
        one feature map per stride.
    """
    spec = get_spec(encoder)
    height, width, channels = input_shape
    if weights is None:
        return _cut(_application(spec, input_shape, None), spec, strides)
    rgb_shape = (height, width, 3)
    if weights == "imagenet":
        backbone = _load_imagenet(spec, rgb_shape)
        rgb_encoder = _cut(backbone, spec, strides)
    else:
        backbone = _application(spec, rgb_shape, None)
        rgb_encoder = _cut(backbone, spec, strides)
        _load_file(str(weights), spec, backbone, rgb_encoder)
    if channels == 3:
        return rgb_encoder
    target = _cut(_application(spec, input_shape, None), spec, strides)
    copy_weights(rgb_encoder, target, spec)
    return target


def encoder_input_and_features(
    model_name: str,
    input_shape: tuple[int, int, int],
    encoder: str,
    encoder_weights: str | None,
    encoder_freeze: bool,
    strides=(2, 4, 8, 16, 32),
) -> tuple:
    """The shared start of every pretrained-encoder model: checks the input size against
    the encoder's stride, makes the `keras.Input` ("image", images in [0, 1]), preprocesses
    it and runs it through the nested "encoder" model.

    Args:
        model_name: str. The model's name, for error messages.
        input_shape: (height, width, channels); height and width multiples of 32.
        encoder: str. A key of `ENCODERS`.
        encoder_weights: None, "none", "imagenet" or a weights file path (see `build_encoder`).
        encoder_freeze: bool. Build the encoder frozen (`trainable=False`; BatchNorm layers
            then run in inference mode). Unfreeze later with `set_encoder_trainable`.
        strides: the output strides wanted. Defaults to (2, 4, 8, 16, 32).

    Returns:
        (inputs, features): the model's input tensor and a dict output stride → feature tensor.
    """
    check_input_shape(input_shape, ENCODER_STRIDE, model_name)
    inputs = keras.Input(input_shape, name="image")
    if isinstance(encoder_weights, str) and encoder_weights.lower() == "none":
        encoder_weights = None
    if encoder_weights is not None and not isinstance(encoder_weights, (str, Path)):
        raise TfsegError(f"encoder_weights: expected none, imagenet or a file path, got {encoder_weights!r}")
    backbone = build_encoder(encoder, tuple(input_shape), encoder_weights, strides)
    backbone.trainable = not encoder_freeze
    images = preprocessing_layer(encoder, input_shape[-1])(inputs)
    return inputs, dict(zip(strides, backbone(images)))


def get_encoder(model: keras.Model) -> keras.Model | None:
    """The nested "encoder" model of a pretrained-encoder model, or None if it has none."""
    for layer in model.layers:
        if layer.name == "encoder" and isinstance(layer, keras.Model):
            return layer
    return None


def set_encoder_trainable(model: keras.Model, trainable: bool) -> None:
    """Freezes (`False`) or unfreezes (`True`) the encoder of `model` for fine-tuning.

    Recompile the model afterwards for the change to take effect in `fit`.

    Raises:
        TfsegError: `model` has no nested "encoder" model.
    """
    encoder = get_encoder(model)
    if encoder is None:
        raise TfsegError(f"model {model.name!r} has no pretrained encoder to freeze or unfreeze")
    encoder.trainable = trainable
