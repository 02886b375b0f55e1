"""Pretrained encoders, one registry entry per backbone.

Each entry names the backbone's family and builder (keras.applications, or a Keras port
with the layer layout of a published checkpoint), where its ImageNet weights come from,
the layers whose outputs are the skip features by output stride (looked up by layer
name, never by index) and the ImageNet preprocessing the weights expect.
`build_encoder` returns the backbone as one functional `keras.Model` named "encoder"
whose outputs are the features at strides 2, 4, 8, 16, 32 (VGG also 1), optionally made
dilated to output stride 16 or 8 (`dilate`); the preprocessing is a separate
`ImageNormalization` layer in front of it, so the models built on it take images in
[0, 1]. A backbone without a stride-2 feature (ConvNeXt starts at stride 4) gets one in
the encoder: its stride-4 feature upsampled ×2 (nearest), so every decoder works on it.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from tfseg.errors import TfsegError, did_you_mean, normalise_name
from tfseg.models.backbones import regnet, resnet
from tfseg.models.backbones.regnet import build_regnety, regnety_features
from tfseg.models.backbones.resnet import build_resnet, feature_layers, load_torchvision_weights
from tfseg.models.blocks import check_input_shape
from tfseg.models.imagenet_weights import WeightsFile, imagenet_path

# ImageNet statistics in RGB order, for images in [0, 1].
_TORCH_MEAN, _TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_CAFFE_MEAN, _CAFFE_STD = (123.68 / 255, 116.779 / 255, 103.939 / 255), (1 / 255,) * 3
_TF_MEAN, _TF_STD = (0.5,) * 3, (0.5,) * 3


@dataclass(frozen=True)
class LayerInput:
    """A feature taken at the input of a layer (e.g. the activation a strided layer reads)."""

    layer: str


@dataclass(frozen=True)
class EncoderSpec:
    """How to build one backbone, where its weights come from and where its features are.

    Attributes:
        family: str. The backbone family in listings, e.g. "EfficientNet", "ResNet".
        title: str. The backbone's name, e.g. "EfficientNetB3", "ResNet34".
        backbone: `(input_shape, weights) -> keras.Model`, the whole backbone without its
            classifier; `weights` is None (random) or the path of a weights file in the
            backbone's published format.
        weights_source: str. Where "imagenet" weights come from (for the docs).
        features: dict. Output stride → the layer whose output is the feature (its name),
            `LayerInput(name)` for the input of that layer, or None for the backbone's
            output. Without a stride-2 entry the encoder upsamples the stride-4 feature.
        mean: RGB means for images in [0, 1] that the ImageNet weights expect.
        std: RGB standard deviations for images in [0, 1].
        bgr: bool. The weights expect BGR channel order (Caffe-style). Defaults to False.
        input_layer: str or None. Cut the backbone at this layer's input, leaving out the
            backbone's own preprocessing layers (tfseg's `ImageNormalization` replaces
            them). None keeps the backbone from its input. Defaults to None.
        pooled_bottom: bool. The stride-32 feature is a max-pooling output with no
            convolution after it (VGG); the U-Net decoder then starts with a centre block,
            as segmentation_models and segmentation_models.pytorch do. Defaults to False.
        load_file: `(backbone, path) -> None` for weights files in a format other than
            Keras' (e.g. a torchvision `.pth`), or None. Defaults to None.
        peers: dict. The same backbone's name in each peer library: "sm" for
            segmentation_models (Keras), "smp" for segmentation_models.pytorch; the
            parameter table (`benchmarks/param_counts.py`) reads it. Defaults to none.
        imagenet_files: the published ImageNet weights files (`WeightsFile`), that
            `encoder_weights="imagenet"` reads from the cache (`tfseg.models.imagenet_weights`):
            one, or one per input size (MobileNetV2). Defaults to none (no ImageNet weights).
    """

    family: str
    title: str
    backbone: Callable[[tuple, str | None], keras.Model]
    weights_source: str
    features: dict
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    bgr: bool = False
    input_layer: str | None = None
    pooled_bottom: bool = False
    load_file: Callable[[keras.Model, str], None] | None = None
    peers: dict = field(default_factory=dict)
    imagenet_files: tuple[WeightsFile, ...] = ()


def keras_application(application: str) -> Callable[[tuple, str | None], keras.Model]:
    """The builder `(input_shape, weights)` of `keras.applications.<application>` without its top."""

    def backbone(input_shape, weights):
        return getattr(keras.applications, application)(include_top=False, weights=weights, input_shape=input_shape)

    return backbone


_KERAS = "keras.applications (storage.googleapis.com; Keras' checksum)"


def _keras_file(path: str, file_hash: str | None, input_size: int | None = None) -> WeightsFile:
    """A keras.applications weights file at storage.googleapis.com/`path`, with the hash Keras checks."""
    return WeightsFile(path.rsplit("/", 1)[-1], "https://storage.googleapis.com/" + path, file_hash, input_size)


def _application(family: str, application: str, features: dict, mean, std, *files: WeightsFile, **options) -> EncoderSpec:
    return EncoderSpec(
        family, application, keras_application(application), _KERAS, features, mean, std, imagenet_files=files, **options
    )


def _efficientnet(variant: str, md5: str) -> EncoderSpec:
    features = {
        2: "block2a_expand_activation",
        4: "block3a_expand_activation",
        8: "block4a_expand_activation",
        16: "block6a_expand_activation",
        32: "top_activation",
    }
    peers = {"sm": f"efficientnet{variant.lower()}", "smp": f"efficientnet-{variant.lower()}"}
    file = _keras_file(f"keras-applications/efficientnet{variant.lower()}_notop.h5", md5)
    return _application(
        "EfficientNet", f"EfficientNet{variant}", features, _TORCH_MEAN, _TORCH_STD, file, input_layer="stem_conv_pad",
        peers=peers,
    )


def _efficientnet_v2(variant: str, md5: str) -> EncoderSpec:
    # Stages 2 and 3 are fused MBConv blocks whose first conv is strided: the features
    # are their inputs. The B variants' weights expect ImageNet mean/std, S/M/L [-1, 1].
    features = {
        2: LayerInput("block2a_expand_conv"),
        4: LayerInput("block3a_expand_conv"),
        8: "block4a_expand_activation",
        16: "block6a_expand_activation",
        32: "top_activation",
    }
    mean, std = (_TORCH_MEAN, _TORCH_STD) if variant.startswith("B") else (_TF_MEAN, _TF_STD)
    peers = {"smp": f"tu-tf_efficientnetv2_{variant.lower()}"}
    file = _keras_file(f"tensorflow/keras-applications/efficientnet_v2/efficientnetv2-{variant.lower()}_notop.h5", md5)
    return _application(
        "EfficientNetV2", f"EfficientNetV2{variant}", features, mean, std, file, input_layer="stem_conv", peers=peers
    )


def _keras_resnet_file(application: str, md5: str) -> WeightsFile:
    name = f"{application.lower()}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return _keras_file(f"tensorflow/keras-applications/resnet/{name}", md5)


def _resnet(application: str, stage4_blocks: int, md5: str) -> EncoderSpec:
    features = {
        2: "conv1_relu",
        4: "conv2_block3_out",
        8: "conv3_block4_out",
        16: f"conv4_block{stage4_blocks}_out",
        32: "conv5_block3_out",
    }
    peers = {"sm": application.lower(), "smp": application.lower()}
    file = _keras_resnet_file(application, md5)
    return _application("ResNet", application, features, _CAFFE_MEAN, _CAFFE_STD, file, bgr=True, peers=peers)


def _resnet_v2(application: str, stage4_blocks: int, md5: str) -> EncoderSpec:
    # ResNet-V2 downsamples in the last block of a stage, so the stride-s feature is the
    # pre-activation of that last block.
    features = {
        2: "conv1_conv",
        4: "conv2_block3_1_relu",
        8: "conv3_block4_1_relu",
        16: f"conv4_block{stage4_blocks}_1_relu",
        32: "post_relu",
    }
    return _application("ResNet-V2", application, features, _TF_MEAN, _TF_STD, _keras_resnet_file(application, md5))


def _torchvision_resnet(depth: int) -> EncoderSpec:
    url = resnet.IMAGENET_URLS[depth]

    def load_file(backbone, path):
        if str(path).endswith((".pth", ".pt")):
            load_torchvision_weights(backbone, path)
        else:
            _load_keras_file(backbone, path)

    return EncoderSpec(
        "ResNet", f"ResNet{depth}", lambda input_shape, weights: build_resnet(depth, input_shape, weights),
        "torchvision (download.pytorch.org; SHA-256 checked)",
        feature_layers(depth), _TORCH_MEAN, _TORCH_STD, load_file=load_file,
        peers={"sm": f"resnet{depth}", "smp": f"resnet{depth}"},
        imagenet_files=(WeightsFile(url.rsplit("/", 1)[-1], url, resnet.IMAGENET_SHA256[depth]),),
    )


def _regnety(variant: str) -> EncoderSpec:
    name = f"regnety{variant}_notop.h5"
    return EncoderSpec(
        "RegNetY", f"RegNetY{variant}", lambda input_shape, weights: build_regnety(variant, input_shape, weights),
        "tf.keras 2 keras.applications.regnet (storage.googleapis.com; SHA-256 checked)",
        regnety_features(variant), (0.0,) * 3, (1.0,) * 3,  # its weights take images in [0, 1]
        peers={"smp": f"tu-regnety_{variant}"},
        imagenet_files=(WeightsFile(name, regnet.BASE_WEIGHTS_PATH + name, regnet.WEIGHTS_HASHES[variant]),),
    )


def _mobilenet_v3(size: str, expansions: tuple[int, int, int, int], md5: str) -> EncoderSpec:
    # The features are the expanded activations that each strided depthwise conv reads
    # (as for MobileNetV2); the stride-32 feature is the backbone's last activation.
    features = {stride: LayerInput(f"expanded_conv{f'_{block}' if block else ''}_depthwise_pad")
                for stride, block in zip((2, 4, 8, 16), expansions)}
    features[32] = None
    peers = {"smp": f"tu-mobilenetv3_{size.lower()}_100"}
    name = f"weights_mobilenet_v3_{size.lower()}_224_1.0_float_no_top_v2.h5"
    file = _keras_file(f"tensorflow/keras-applications/mobilenet_v3/{name}", md5)
    return _application("MobileNetV3", f"MobileNetV3{size}", features, _TF_MEAN, _TF_STD, file, input_layer="conv", peers=peers)


def _convnext(size: str, sha256: str) -> EncoderSpec:
    # Stage outputs (the inputs of the downsampling blocks); stride 32 is the backbone's
    # last LayerNormalization. ConvNeXt has no stride-2 feature.
    prefix = f"convnext_{size.lower()}"
    features = {4 * 2**stage: LayerInput(f"{prefix}_downsampling_block_{stage}") for stage in range(3)}
    features[32] = None
    peers = {"smp": f"tu-{prefix}"}
    file = _keras_file(f"tensorflow/keras-applications/convnext/{prefix}_notop.h5", sha256)
    return _application(
        "ConvNeXt", f"ConvNeXt{size}", features, _TORCH_MEAN, _TORCH_STD, file, input_layer=f"{prefix}_stem", peers=peers
    )


def _vgg(application: str, last_conv: int, md5: str) -> EncoderSpec:
    features = {1: "block1_conv2", 2: "block2_conv2"}
    features.update({stride: f"block{block}_conv{last_conv}" for stride, block in ((4, 3), (8, 4), (16, 5))})
    features[32] = "block5_pool"
    peers = {"sm": application.lower(), "smp": application.lower()}
    name = application.lower()
    file = _keras_file(f"tensorflow/keras-applications/{name}/{name}_weights_tf_dim_ordering_tf_kernels_notop.h5", md5)
    return _application(
        "VGG", application, features, _CAFFE_MEAN, _CAFFE_STD, file, bgr=True, pooled_bottom=True, peers=peers
    )


# The MD5 (SHA-256 for ConvNeXt) of each keras.applications file is the one Keras checks it
# by (each module's WEIGHTS_HASHES); tests/models/test_imagenet_weights.py compares the file
# names, URLs and hashes with what keras.applications asks for.
ENCODERS: dict[str, EncoderSpec] = {
    "resnet18": _torchvision_resnet(18),
    "resnet34": _torchvision_resnet(34),
    "resnet50": _resnet("ResNet50", 6, "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": _resnet("ResNet101", 23, "88cf7a10940856eca736dc7b7e228a21"),
    "resnet50v2": _resnet_v2("ResNet50V2", 6, "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": _resnet_v2("ResNet101V2", 23, "c0ed64b8031c3730f411d2eb4eea35b5"),
    **{
        f"effb{i}": _efficientnet(f"B{i}", md5)
        for i, md5 in enumerate((
            "50bc09e76180e00e4465e1a485ddc09d", "74c4e6b3e1f6a1eea24c589628592432", "111f8e2ac8aa800a7a99e3239f7bfb39",
            "af6d107764bb5b1abb91932881670226", "ebc24e6d6c33eaebbd558eafbeedf1ba", "38879255a25d3c92d5e44e04ae6cec6f",
            "9ecce42647a20130c1f39a5d4cb75743", "cbcfe4450ddf6f3ad90b1b398090fe4a",
        ))
    },
    **{
        f"effv2b{i}": _efficientnet_v2(f"B{i}", md5)
        for i, md5 in enumerate((
            "893217f2bb855e2983157299931e43ff", "0e80663031ca32d657f9caa404b6ec37", "1dfe2e7a5d45b6632553a8961ea609eb",
            "f6abf7b5849ac99a89b50dd3fd532856",
        ))
    },
    "effv2s": _efficientnet_v2("S", "af0682fb74e8c54910f2d4393339c070"),
    **{f"regnety{variant}": _regnety(variant) for variant in ("002", "004", "008", "016", "032")},
    "mobilenetv2": _application(
        "MobileNetV2",
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
        *(  # one file per input size, as Keras picks them (224 for any other size); no hashes published
            _keras_file(f"tensorflow/keras-applications/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_"
                        f"{size}_no_top.h5", None, None if size == 224 else size)
            for size in (96, 128, 160, 192, 224)
        ),
        peers={"sm": "mobilenetv2", "smp": "mobilenet_v2"},
    ),
    "mobilenetv3small": _mobilenet_v3("Small", (0, 1, 3, 8), "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "mobilenetv3large": _mobilenet_v3("Large", (1, 3, 6, 12), "07fb09a5933dd0c8eaafa16978110389"),
    "convnext_tiny": _convnext("Tiny", "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": _convnext("Small", "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": _convnext("Base", "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "densenet121": _application(
        "DenseNet",
        "DenseNet121",
        {2: "conv1_relu", 4: "pool2_relu", 8: "pool3_relu", 16: "pool4_relu", 32: "relu"},
        _TORCH_MEAN,
        _TORCH_STD,
        _keras_file("tensorflow/keras-applications/densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
                    "30ee3e1110167f948a6b9946edeeb738"),
        peers={"sm": "densenet121", "smp": "densenet121"},
    ),
    "vgg16": _vgg("VGG16", 3, "6d6bbae143d832006294945121d1f1fc"),
    "vgg19": _vgg("VGG19", 4, "253f8cb515780f3b799900260a226db6"),
}

ENCODER_STRIDE = 32


def encoder_key(name: str) -> str:
    """The key of `ENCODERS` for an encoder named as tfseg, segmentation_models.pytorch or
    segmentation_models name it (`efficientnet-b3` → `effb3`, `mobilenet_v2` →
    `mobilenetv2`, `tu-tf_efficientnetv2_b0` → `effv2b0`; `tfseg.errors.normalise_name`);
    an unknown name's error names the closest and lists the valid ones."""
    if name in ENCODERS:
        return name
    for key, spec in ENCODERS.items():
        if name in spec.peers.values() or normalise_name(name) == normalise_name(key):
            return key
    get_spec(name)  # raises with the advice
    return name


def get_spec(encoder: str) -> EncoderSpec:
    """The registry entry of `encoder`; an unknown name's error names the closest and lists the valid ones."""
    if encoder not in ENCODERS:
        advice = did_you_mean(encoder, ENCODERS)
        raise TfsegError(f"unknown encoder {encoder!r}; {advice + ' ' if advice else ''}valid: {', '.join(sorted(ENCODERS))}")
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


def _feature(backbone: keras.Model, feature):
    if feature is None:
        return backbone.output
    if isinstance(feature, LayerInput):
        return backbone.get_layer(feature.layer).input
    return backbone.get_layer(feature).output


def _cut(backbone: keras.Model, spec: EncoderSpec, strides) -> keras.Model:
    """The backbone from `spec.input_layer` (or its input) to the feature layers, as one
    functional model named "encoder" with one output per stride."""
    inputs = backbone.get_layer(spec.input_layer).input if spec.input_layer else backbone.input
    outputs = []
    for stride in strides:
        if stride == 2 and 2 not in spec.features:
            upsample = keras.layers.UpSampling2D(2, interpolation="nearest", name="stride2_from_stride4")
            outputs.append(upsample(_feature(backbone, spec.features[4])))
        else:
            outputs.append(_feature(backbone, spec.features[stride]))
    return keras.Model(inputs, outputs, name="encoder")


def _load_keras_file(target: keras.Model, path: str) -> None:
    with warnings.catch_warnings():
        # keras only warns when a file's layers do not match; make that an error
        warnings.simplefilter("error")
        target.load_weights(path)


def _load_file(path: str, spec: EncoderSpec, backbone: keras.Model, encoder: keras.Model) -> None:
    """Loads a weights file of the backbone (its published format or Keras') or of the
    cut encoder (which shares the backbone's layers)."""
    if not Path(path).is_file():
        raise TfsegError(f"encoder_weights: file {path} does not exist (expected a weights file of {spec.title})")
    errors = []
    for target, load in ((backbone, spec.load_file or _load_keras_file), (encoder, _load_keras_file)):
        try:
            load(target, path)
            return
        except Exception as error:  # a mismatch is a ValueError, KeyError, TfsegError or the warning
            errors.append(str(error).splitlines()[0].split(". ")[0][:160])
    raise TfsegError(
        f"encoder_weights: {path} matches neither the {spec.title} backbone ({spec.weights_source.split(' (')[0]}) "
        f"nor its encoder ({errors[0]})"
    )


def imagenet_file(encoder: str, input_shape) -> WeightsFile:
    """The ImageNet weights file that `encoder` loads for 3-channel images of `input_shape`:
    the one for its square size if the encoder has one, else its file for any size.

    Raises:
        TfsegError: the encoder has no ImageNet weights.
    """
    files = get_spec(encoder).imagenet_files
    height, width = input_shape[:2]
    sized = [file for file in files if file.input_size == height == width]
    general = [file for file in files if file.input_size is None]
    if not sized + general:
        raise TfsegError(f"encoder_weights='imagenet': encoder {encoder!r} has no ImageNet weights (no imagenet_files)")
    return (sized + general)[0]


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


def _backbone_with_weights(encoder: str, input_shape, weights) -> keras.Model:
    """The whole backbone for `input_shape` with random, ImageNet (from the cache, downloaded
    if need be) or a file's weights."""
    spec = get_spec(encoder)
    height, width, channels = input_shape
    if weights is None:
        return spec.backbone(input_shape, None)
    rgb_shape = (height, width, 3)
    if weights == "imagenet":
        rgb = spec.backbone(rgb_shape, str(imagenet_path(encoder, imagenet_file(encoder, rgb_shape))))
    else:
        rgb = spec.backbone(rgb_shape, None)
        _load_file(str(weights), spec, rgb, _cut(rgb, spec, sorted(spec.features)))
    if channels == 3:
        return rgb
    target = spec.backbone(input_shape, None)
    strides = sorted(spec.features)
    copy_weights(_cut(rgb, spec, strides), _cut(target, spec, strides), spec)
    return target


def _strides_of_layers(model: keras.Model, input_stride: int, strides: dict) -> None:
    """Fills `strides` with layer name → (input stride, output stride) for every layer of
    `model` and of the models nested in it (stride: the input size over the map's size)."""
    size = model.inputs[0].shape[1]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inputs = [tensor for tensor in keras.tree.flatten(layer.input) if len(tensor.shape) == 4]
        in_stride = input_stride * size // inputs[0].shape[1] if inputs else input_stride
        output = layer.output
        out_stride = input_stride * size // output.shape[1] if len(output.shape) == 4 else in_stride
        strides[layer.name] = (in_stride, out_stride)
        if isinstance(layer, keras.Model):
            _strides_of_layers(layer, in_stride, strides)


def _dilated_configs(configs: list, strides: dict, output_stride: int, consumers: dict) -> None:
    """Rewrites layer configs in place: every strided layer past `output_stride` gets
    stride 1 and "same" padding, every kernel > 1 there a dilation of its original
    stride over `output_stride`, and the explicit padding before such a layer goes.
    Nested models lose their fixed input sizes (their maps grow)."""
    for layer in configs:
        config = layer["config"]
        if "layers" in config:  # a nested Sequential or functional model
            _free_spatial_sizes(config)
            _dilated_configs(config["layers"], strides, output_stride, consumers)
            continue
        out_stride = strides.get(config["name"], (1, 1))[1]
        if layer["class_name"] == "ZeroPadding2D":
            consumer = consumers.get(config["name"])
            if consumer is not None and strides[consumer][1] > output_stride:
                config["padding"] = ((0, 0), (0, 0))
            continue
        if out_stride <= output_stride or "strides" not in config:
            continue
        config["strides"] = (1, 1)
        config["padding"] = "same"
        if "dilation_rate" in config and max(config.get("kernel_size", (1, 1))) > 1:
            rate = out_stride // output_stride
            config["dilation_rate"] = (rate, rate)


def _free_spatial_sizes(config: dict) -> None:
    """Sets the height and width of a nested model's declared input shapes to None."""
    if config.get("build_input_shape"):
        config["build_input_shape"] = [None, None, None, *config["build_input_shape"][3:]]
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer" and layer["config"].get("batch_shape"):
            layer["config"]["batch_shape"] = [None, None, None, *layer["config"]["batch_shape"][3:]]


def _consumers(model: keras.Model, consumers: dict) -> None:
    """Layer name → the name of the one layer that reads its output (for ZeroPadding2D)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _consumers(layer, consumers)
        elif isinstance(layer, keras.layers.ZeroPadding2D) and len(layer._outbound_nodes) == 1:
            consumers[layer.name] = layer._outbound_nodes[0].operation.name


def dilate(backbone: keras.Model, output_stride: int) -> keras.Model:
    """The backbone made dilated to `output_stride` (16 or 8), with the same weights.

    As segmentation_models.pytorch's `make_dilated`: every strided layer whose output
    stride would exceed `output_stride` gets stride 1, and every convolution there a
    dilation of (its original output stride / `output_stride`), so the receptive field
    is kept while the deep features stay at `output_stride`. Done on the model's config,
    so it works for any backbone without rebuilding it by hand.
    """
    if output_stride not in (8, 16, 32):
        raise TfsegError(f"encoder output stride must be 8, 16 or 32, got {output_stride!r}")
    if output_stride == 32:
        return backbone
    strides, consumers = {}, {}
    _strides_of_layers(backbone, 1, strides)
    _consumers(backbone, consumers)
    config = json.loads(json.dumps(backbone.get_config()))
    _dilated_configs(config["layers"], strides, output_stride, consumers)
    dilated = backbone.__class__.from_config(config)
    dilated.set_weights(backbone.get_weights())
    return dilated


def build_encoder(
    encoder: str,
    input_shape: tuple[int, int, int],
    weights: str | None = None,
    strides=(2, 4, 8, 16, 32),
    output_stride: int = 32,
) -> keras.Model:
    """Builds the backbone `encoder` as one functional model named "encoder".

    Args:
        encoder: str. A key of `ENCODERS`, e.g. "effb3", "resnet34", "mobilenetv2".
        input_shape: (height, width, channels) of the images.
        weights: None (random), "imagenet" (the entry's `imagenet_files`, from Keras'
            cache, downloaded and checked first if not there; see
            `tfseg.models.imagenet_weights`) or the path of a weights file: the backbone's
            published format (a torchvision `.pth` for ResNet-18/34), the Keras backbone
            without its top (`.weights.h5`, `.h5`) or this encoder, saved with
            `save_weights`. Pretrained 3-channel weights are folded into other channel
            counts (see `fold_first_kernel`). Defaults to None.
        strides: the output strides of the features, in order. Defaults to (2, 4, 8, 16, 32).
        output_stride: 32, or 16 or 8 for a dilated encoder (`dilate`): the features
            of larger strides are then at `output_stride`. Defaults to 32.

    Returns:
        A `keras.Model` taking normalised images (see `preprocessing_layer`) and returning
        one feature map per stride.
    """
    backbone = dilate(_backbone_with_weights(encoder, tuple(input_shape), weights), output_stride)
    return _cut(backbone, get_spec(encoder), strides)


def encoder_input_and_features(
    model_name: str,
    input_shape: tuple[int, int, int],
    encoder: str,
    encoder_weights: str | None,
    encoder_freeze: bool,
    strides=(2, 4, 8, 16, 32),
    output_stride: int = 32,
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
        output_stride: 32, or 16 or 8 for a dilated encoder: the features of larger
            strides are then at `output_stride` (see `dilate`). Defaults to 32.

    Returns:
        (inputs, features): the model's input tensor and a dict output stride → feature tensor.
    """
    check_input_shape(input_shape, ENCODER_STRIDE, model_name)
    inputs = keras.Input(input_shape, name="image")
    if isinstance(encoder_weights, str) and encoder_weights.lower() == "none":
        encoder_weights = None
    if encoder_weights is not None and not isinstance(encoder_weights, (str, Path)):
        raise TfsegError(f"encoder_weights: expected none, imagenet or a file path, got {encoder_weights!r}")
    backbone = build_encoder(encoder, tuple(input_shape), encoder_weights, strides, output_stride)
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
