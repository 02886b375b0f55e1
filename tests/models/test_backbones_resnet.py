"""tfseg.models.backbones.resnet and .torch_checkpoint: torchvision-layout ResNet-18/34 and
PyTorch's zip checkpoints read and written without torch.

The checkpoints are written here with `write_state_dict`, holding every key of
torchvision's resnet18/resnet34 state dict (in torchvision's order, with the classifier
and the BatchNorm counters) filled with distinct random values. The forward pass is
checked against a float64 numpy implementation of PyTorch's operations. Where torch is
importable (not in the main environment), the file format is cross-checked against
torch.save / torch.load too; otherwise those tests are skipped.
"""

import pickle
import zipfile
from collections import OrderedDict

import keras
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from tfseg.errors import TfsegError
from tfseg.models.backbones.resnet import (
    IMAGENET_SHA256,
    IMAGENET_URLS,
    build_resnet,
    feature_layers,
    keras_name,
    load_torchvision_weights,
)
from tfseg.models.backbones.torch_checkpoint import _PickleWriter, read_state_dict, write_state_dict

# torchvision: resnet18 = BasicBlock × (2, 2, 2, 2), resnet34 = BasicBlock × (3, 4, 6, 3)
TORCHVISION_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
# torchvision's published parameter counts (ResNet18_Weights / ResNet34_Weights meta
# "num_params"), classifier fc (512 × 1000 + 1000 = 513,000) included
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672}
FC_PARAMS = 513_000


def _bn_shapes(shapes, prefix, channels):
    for name in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"{prefix}.{name}"] = (channels,)
    shapes[f"{prefix}.num_batches_tracked"] = ()


def torchvision_shapes(depth):
    """Every key of torchvision's resnet{depth}().state_dict() with its shape, in order."""
    shapes = OrderedDict({"conv1.weight": (64, 3, 7, 7)})
    _bn_shapes(shapes, "bn1", 64)
    inplanes = 64
    for stage, (count, planes) in enumerate(zip(TORCHVISION_BLOCKS[depth], (64, 128, 256, 512))):
        for block in range(count):
            prefix = f"layer{stage + 1}.{block}"
            stride = 2 if stage and not block else 1
            shapes[f"{prefix}.conv1.weight"] = (planes, inplanes, 3, 3)
            _bn_shapes(shapes, f"{prefix}.bn1", planes)
            shapes[f"{prefix}.conv2.weight"] = (planes, planes, 3, 3)
            _bn_shapes(shapes, f"{prefix}.bn2", planes)
            if stride != 1 or inplanes != planes:
                shapes[f"{prefix}.downsample.0.weight"] = (planes, inplanes, 1, 1)
                _bn_shapes(shapes, f"{prefix}.downsample.1", planes)
            inplanes = planes
    shapes["fc.weight"] = (1000, 512)
    shapes["fc.bias"] = (1000,)
    return shapes


def random_state(depth, seed=0):
    """A torchvision-format state dict with distinct random values that keep activations
    of order 1 through the network (He-scaled kernels, BN statistics near 0 and 1)."""
    rng = np.random.default_rng(seed)
    state = OrderedDict()
    for key, shape in torchvision_shapes(depth).items():
        if key.endswith("num_batches_tracked"):
            state[key] = np.array(rng.integers(1, 10**6), dtype=np.int64)
        elif key.endswith(("running_var", ".weight")) and len(shape) == 1:  # BN var, gamma
            state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        elif len(shape) == 4:
            state[key] = (rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))).astype(np.float32)
        else:
            state[key] = (rng.standard_normal(shape) * 0.1).astype(np.float32)
    return state


# ---------------------------------------------------------------- numpy reference (PyTorch)


def np_conv(x, weight, stride, padding):
    """torch.nn.functional.conv2d for one NHWC image x and an OIHW weight, no bias."""
    x = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    windows = sliding_window_view(x, weight.shape[2:], axis=(0, 1))[::stride, ::stride]
    return np.einsum("hwcij,ocij->hwo", windows, weight.astype(np.float64), optimize=True)


def np_bn(x, state, prefix, eps=1e-5):
    """torch BatchNorm2d in eval mode."""
    mean, var = state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"]
    return (x - mean) / np.sqrt(var.astype(np.float64) + eps) * state[f"{prefix}.weight"] + state[f"{prefix}.bias"]


def np_maxpool(x):
    """torch MaxPool2d(3, stride=2, padding=1): pads with -inf."""
    x = np.pad(x, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    return sliding_window_view(x, (3, 3), axis=(0, 1))[::2, ::2].max(axis=(-2, -1))


def np_resnet(state, depth, image):
    """torchvision ResNet forward (eval) of one HWC image; the features by output stride."""
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    x = relu(np_bn(np_conv(image.astype(np.float64), state["conv1.weight"], 2, 3), state, "bn1"))
    features = {2: x}
    x = np_maxpool(x)
    for stage, count in enumerate(TORCHVISION_BLOCKS[depth]):
        for block in range(count):
            prefix = f"layer{stage + 1}.{block}"
            stride = 2 if stage and not block else 1
            y = relu(np_bn(np_conv(x, state[f"{prefix}.conv1.weight"], stride, 1), state, f"{prefix}.bn1"))
            y = np_bn(np_conv(y, state[f"{prefix}.conv2.weight"], 1, 1), state, f"{prefix}.bn2")
            if f"{prefix}.downsample.0.weight" in state:
                x = np_bn(np_conv(x, state[f"{prefix}.downsample.0.weight"], stride, 0), state, f"{prefix}.downsample.1")
            x = relu(y + x)
        features[4 * 2**stage] = x
    return features


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def checkpoint34(tmp_path_factory):
    """(path, state) of a random torchvision-format resnet34 checkpoint."""
    state = random_state(34, seed=1)
    path = tmp_path_factory.mktemp("ckpt") / "resnet34-random.pth"
    write_state_dict(path, state)
    return path, state


@pytest.fixture(scope="module")
def loaded34(checkpoint34):
    """A resnet34 (odd input size, to exercise the padding) with checkpoint34 loaded."""
    return build_resnet(34, (37, 45, 3), weights=str(checkpoint34[0]))


def _features_model(model, depth):
    names = feature_layers(depth)
    return keras.Model(model.input, [model.get_layer(names[s]).output for s in sorted(names)])


# ---------------------------------------------------------------- architecture


def test_parameter_counts_match_torchvision():
    for depth, expected_total in TORCHVISION_PARAMS.items():
        shapes = torchvision_shapes(depth)
        parameters = sum(
            int(np.prod(shape)) for key, shape in shapes.items()
            if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))
        )
        assert parameters == expected_total  # the test's key list is torchvision's
        model = build_resnet(depth, (64, 64, 3))
        assert model.name == f"resnet{depth}"
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        buffers = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
        assert trainable == expected_total - FC_PARAMS
        assert buffers == sum(int(np.prod(s)) for k, s in shapes.items() if k.endswith(("running_mean", "running_var")))
    assert (TORCHVISION_PARAMS[18] - FC_PARAMS, TORCHVISION_PARAMS[34] - FC_PARAMS) == (11_176_512, 21_284_672)


def test_feature_layer_names_and_shapes():
    assert feature_layers(18) == {2: "relu", 4: "layer1.1.out", 8: "layer2.1.out", 16: "layer3.1.out", 32: "layer4.1.out"}
    assert feature_layers(34) == {2: "relu", 4: "layer1.2.out", 8: "layer2.3.out", 16: "layer3.5.out", 32: "layer4.2.out"}
    for depth in (18, 34):
        model = build_resnet(depth, (64, 96, 3))
        for stride, name in feature_layers(depth).items():
            channels = 64 if stride <= 4 else 64 * stride // 4
            assert tuple(model.get_layer(name).output.shape) == (None, 64 // stride, 96 // stride, channels)
        assert model.output is model.get_layer(feature_layers(depth)[32]).output


def test_layer_names_are_torchvision_prefixes_and_bn_matches_pytorch():
    model = build_resnet(18, (32, 32, 3))
    assert keras_name("layer1.0.conv1") == "layer1.0.conv1"
    names = {layer.name for layer in model.layers}
    assert {"conv1", "bn1", "relu", "maxpool", "layer1.0.conv1", "layer2.0.downsample.0", "layer2.0.downsample.1"} <= names
    assert "layer1.0.downsample.0" not in names  # torchvision: no shortcut conv in layer1
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert (layer.epsilon, layer.momentum) == (1e-5, 0.9)
        if isinstance(layer, keras.layers.Conv2D):
            assert layer.padding == "valid" and not layer.use_bias


def test_bad_depth_and_channels_are_clear_errors():
    with pytest.raises(TfsegError, match="depth must be one of"):
        build_resnet(50, (64, 64, 3))
    with pytest.raises(TfsegError, match="need 3 input channels"):
        build_resnet(18, (64, 64, 1), weights="resnet18-f37072fd.pth")


# ---------------------------------------------------------------- loading


def test_every_tensor_lands_where_it_should(checkpoint34, loaded34):
    _, state = checkpoint34
    used = set()
    for layer in loaded34.layers:
        if isinstance(layer, keras.layers.Conv2D):
            key = f"{layer.name}.weight"
            np.testing.assert_array_equal(layer.kernel.numpy(), state[key].transpose(2, 3, 1, 0))
            used.add(key)
        elif isinstance(layer, keras.layers.BatchNormalization):
            for torch_name, variable in (("weight", layer.gamma), ("bias", layer.beta),
                                         ("running_mean", layer.moving_mean), ("running_var", layer.moving_variance)):
                np.testing.assert_array_equal(variable.numpy(), state[f"{layer.name}.{torch_name}"])
                used.add(f"{layer.name}.{torch_name}")
        else:
            assert not layer.weights
    ignored = {k for k in state if k.startswith("fc.") or k.endswith("num_batches_tracked")}
    assert used == set(state) - ignored
    assert len(used) == len(loaded34.weights)


def test_stem_matches_numpy_conv_bn_relu(checkpoint34, loaded34):
    _, state = checkpoint34
    image = np.random.default_rng(5).random((1, 37, 45, 3), dtype=np.float32)
    stem = keras.Model(loaded34.input, loaded34.get_layer("relu").output)
    got = stem(image, training=False).numpy()[0]
    expected = np.maximum(np_bn(np_conv(image[0].astype(np.float64), state["conv1.weight"], 2, 3), state, "bn1"), 0)
    assert got.shape == expected.shape == (19, 23, 64)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_all_features_match_numpy_reference(checkpoint34, loaded34):
    _, state = checkpoint34
    image = np.random.default_rng(6).random((1, 37, 45, 3), dtype=np.float32)
    expected = np_resnet(state, 34, image[0])
    got = _features_model(loaded34, 34)(image, training=False)
    for stride, value in zip(sorted(expected), got):
        value = value.numpy()[0]
        assert value.shape == expected[stride].shape, stride
        scale = np.abs(expected[stride]).max()
        np.testing.assert_allclose(value, expected[stride], rtol=1e-4, atol=1e-4 * scale, err_msg=f"stride {stride}")


def test_resnet18_loads_and_matches_numpy(tmp_path):
    state = random_state(18, seed=2)
    path = tmp_path / "r18.pth"
    write_state_dict(path, state)
    model = build_resnet(18, (33, 32, 3), weights=path)
    image = np.random.default_rng(7).random((1, 33, 32, 3), dtype=np.float32)
    expected = np_resnet(state, 18, image[0])[32]
    got = model(image, training=False).numpy()[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def _damaged(tmp_path, name, change):
    state = random_state(34, seed=3)
    change(state)
    path = tmp_path / name
    write_state_dict(path, state)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("layer3.2.bn1.running_var"), "key 'layer3.2.bn1.running_var' is missing"),
        (lambda s: s.update({"layer2.0.downsample.0.weight": np.zeros((128, 64, 3, 3), np.float32)}),
         r"'layer2.0.downsample.0.weight' has shape \(128, 64, 3, 3\), resnet34 needs \(128, 64, 1, 1\)"),
        (lambda s: s.update({"layer5.0.conv1.weight": np.zeros((1, 1, 1, 1), np.float32)}),
         "unexpected key 'layer5.0.conv1.weight'"),
    ],
    ids=["missing", "shape", "extra"],
)
def test_mismatching_checkpoint_is_one_line_error_and_sets_nothing(tmp_path, change, message):
    path = _damaged(tmp_path, "bad.pth", change)
    model = build_resnet(34, (32, 32, 3))
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(TfsegError, match=message) as error:
        load_torchvision_weights(model, path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    for value, weight in zip(before, model.weights):
        np.testing.assert_array_equal(value, weight.numpy())


def test_resnet18_checkpoint_into_resnet34_names_first_missing_key(tmp_path):
    path = tmp_path / "r18.pth"
    write_state_dict(path, random_state(18))
    with pytest.raises(TfsegError, match=r"not a torchvision resnet34 checkpoint: key 'layer1.2.conv1.weight' is missing"):
        build_resnet(34, (32, 32, 3), weights=path)


# ---------------------------------------------------------------- checkpoint format


def test_non_zip_and_missing_files_are_one_line_errors(tmp_path):
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(pickle.dumps({"conv1.weight": [1.0, 2.0]}))  # like torch.save(_use_new_zipfile_serialization=False)
    with pytest.raises(TfsegError, match="is not a zip archive") as error:
        read_state_dict(legacy)
    assert str(legacy) in str(error.value) and "torch.save" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(TfsegError, match="no such file"):
        read_state_dict(tmp_path / "absent.pth")
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(TfsegError, match=r"no <name>/data.pkl"):
        read_state_dict(other_zip)


def test_roundtrip_all_dtypes_and_shapes(tmp_path):
    rng = np.random.default_rng(0)
    tensors = OrderedDict(
        f32=rng.standard_normal((2, 3, 4)).astype(np.float32),
        f64=rng.standard_normal(5),
        f16=rng.standard_normal((3, 1)).astype(np.float16),
        i64=np.array(7, dtype=np.int64),
        i32=np.arange(-3, 3, dtype=np.int32),
        i16=np.arange(4, dtype=np.int16).reshape(2, 2),
        i8=np.array([-128, 127], dtype=np.int8),
        u8=np.arange(256, dtype=np.uint8),
        b=np.array([True, False, True]),
        empty=np.zeros((0, 3), np.float32),
        transposed=rng.standard_normal((3, 4)).astype(np.float32).T,  # non-contiguous input
        big_endian=np.arange(6, dtype=">f4").reshape(2, 3),
    )
    path = tmp_path / "all.pth"
    write_state_dict(path, tensors)
    back = read_state_dict(path)
    assert list(back) == list(tensors)
    for key, value in tensors.items():
        assert back[key].dtype == value.dtype.newbyteorder("="), key
        assert back[key].shape == value.shape and back[key].flags.c_contiguous, key
        np.testing.assert_array_equal(back[key], value, err_msg=key)
    with zipfile.ZipFile(path) as archive:  # torch.save's layout, data 64-byte aligned
        names = archive.namelist()
        assert names[:2] == ["all/data.pkl", "all/byteorder"] and names[-1] == "all/version"
        for info in archive.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            assert (info.header_offset + 30 + len(info.filename) + len(info.extra)) % 64 == 0


def test_big_endian_archive_and_strided_views_read_correctly(tmp_path):
    """A hand-made big-endian archive whose tensors are views of one shared storage."""
    storage = np.arange(24, dtype=">f4")
    writer = _PickleWriter()
    out = writer.out
    writer.empty_ordered_dict()
    out.write(pickle.MARK)
    for name, offset, size, stride in [("whole", 0, (4, 6), (6, 1)), ("transposed", 0, (6, 4), (1, 6)),
                                       ("offset", 5, (2, 3), (3, 1)), ("broadcast", 2, (3, 2), (0, 1))]:
        writer.string(name)
        writer.global_("torch._utils", "_rebuild_tensor_v2")
        out.write(pickle.MARK + pickle.MARK)
        writer.string("storage")
        writer.global_("torch", "FloatStorage")
        writer.string("0")
        writer.string("cpu")
        writer.integer(24)
        out.write(pickle.TUPLE + pickle.BINPERSID)
        writer.integer(offset)
        writer.int_tuple(size)
        writer.int_tuple(stride)
        out.write(pickle.NEWFALSE)
        writer.empty_ordered_dict()
        out.write(pickle.TUPLE + pickle.REDUCE)
    out.write(pickle.SETITEMS + pickle.STOP)
    path = tmp_path / "big.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", out.getvalue())
        archive.writestr("archive/byteorder", "big")
        archive.writestr("archive/data/0", storage.tobytes())
        archive.writestr("archive/version", "3\n")
    back = read_state_dict(path)
    flat = np.arange(24, dtype=np.float32)
    np.testing.assert_array_equal(back["whole"], flat.reshape(4, 6))
    np.testing.assert_array_equal(back["transposed"], flat.reshape(4, 6).T)
    np.testing.assert_array_equal(back["offset"], flat[5:11].reshape(2, 3))
    np.testing.assert_array_equal(back["broadcast"], np.broadcast_to(flat[2:4], (3, 2)))
    assert back["whole"].dtype == np.float32 and back["transposed"].flags.c_contiguous


def _zip_with_pickle(path, data):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data)
        archive.writestr("archive/version", "3\n")


class _Evil:
    def __reduce__(self):
        import os

        return (os.getcwd, ())


def test_refuses_globals_other_than_tensors(tmp_path):
    path = tmp_path / "evil.pth"
    _zip_with_pickle(path, pickle.dumps({"x": _Evil()}, protocol=2))
    with pytest.raises(TfsegError, match=r"refers to (posix|os|nt)\.getcwd.*refused") as error:
        read_state_dict(path)
    assert str(path) in str(error.value)


def test_bfloat16_and_damaged_files_are_clear_errors(tmp_path):
    bf16 = tmp_path / "bf16.pth"
    with zipfile.ZipFile(bf16, "w") as archive:
        archive.writestr("archive/data.pkl", _PickleWriter().state_dict([("w", "BFloat16Storage", "0", (2,))]))
        archive.writestr("archive/data/0", b"\0" * 4)
    with pytest.raises(TfsegError, match="bfloat16 values, which numpy cannot represent"):
        read_state_dict(bf16)
    short = tmp_path / "short.pth"
    with zipfile.ZipFile(short, "w") as archive:
        archive.writestr("archive/data.pkl", _PickleWriter().state_dict([("w", "FloatStorage", "0", (4,))]))
        archive.writestr("archive/data/0", b"\0" * 8)
    with pytest.raises(TfsegError, match=r"short.pth: cannot read the checkpoint's pickle \(storage .* has 8 bytes"):
        read_state_dict(short)


# ---------------------------------------------------------------- ImageNet file hashes


def test_published_hashes_agree_with_torchvision_file_names():
    for depth, url in IMAGENET_URLS.items():
        prefix = url.rsplit("-", 1)[-1].removesuffix(".pth")
        assert len(prefix) == 8 and IMAGENET_SHA256[depth].startswith(prefix)
        assert len(IMAGENET_SHA256[depth]) == 64


# ---------------------------------------------------------------- cross-checks with torch


def _torch():
    return pytest.importorskip(
        "torch", reason="torch is not installed here: the cross-checks against torch.save/torch.load need it"
    )


def test_torch_save_reads_back_equal(tmp_path):
    torch = _torch()
    base = torch.arange(30, dtype=torch.float32)
    state = OrderedDict(
        weight=torch.randn(4, 3, 2, 2),
        view=base[5:17].view(3, 4),  # offset into a shared storage
        same_storage=base[:6],
        transposed=torch.randn(3, 5).t(),
        half=torch.randn(4).half(),
        double=torch.randn(2, 2, dtype=torch.float64),
        count=torch.tensor(12345, dtype=torch.long),
        ints=torch.arange(5, dtype=torch.int32),
        mask=torch.tensor([True, False]),
        bytes=torch.arange(7, dtype=torch.uint8),
        parameter=torch.nn.Parameter(torch.randn(3)),
    )
    path = tmp_path / "saved.pth"
    torch.save(state, path)
    back = read_state_dict(path)
    assert list(back) == list(state)
    for key, tensor in state.items():
        np.testing.assert_array_equal(back[key], tensor.detach().numpy(), err_msg=key)
        assert back[key].dtype == tensor.detach().numpy().dtype, key


def test_write_state_dict_loads_with_torch_weights_only(tmp_path):
    torch = _torch()
    tensors = random_state(18)
    tensors["half"] = np.arange(4, dtype=np.float16)
    tensors["mask"] = np.array([True, False])
    path = tmp_path / "written.pth"
    write_state_dict(path, tensors)
    loaded = torch.load(path, weights_only=True)
    assert list(loaded) == list(tensors)
    for key, value in tensors.items():
        assert loaded[key].numpy().dtype == value.dtype, key
        np.testing.assert_array_equal(loaded[key].numpy(), value, err_msg=key)


def test_numpy_reference_matches_torch_functional():
    """The numpy reference that the Keras model is checked against is PyTorch's maths."""
    torch = _torch()
    functional = torch.nn.functional
    state = random_state(18, seed=4)
    image = np.random.default_rng(8).random((35, 38, 3), dtype=np.float32)
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}

    def bn(x, prefix):
        return functional.batch_norm(x, t[f"{prefix}.running_mean"], t[f"{prefix}.running_var"],
                                     t[f"{prefix}.weight"], t[f"{prefix}.bias"], False, 0.1, 1e-5)

    x = torch.from_numpy(image).permute(2, 0, 1)[None].double()
    t = {k: v.double() for k, v in t.items()}
    x = functional.relu(bn(functional.conv2d(x, t["conv1.weight"], stride=2, padding=3), "bn1"))
    x = functional.max_pool2d(x, 3, 2, 1)
    for stage, count in enumerate(TORCHVISION_BLOCKS[18]):
        for block in range(count):
            prefix, stride = f"layer{stage + 1}.{block}", 2 if stage and not block else 1
            y = functional.relu(bn(functional.conv2d(x, t[f"{prefix}.conv1.weight"], stride=stride, padding=1), f"{prefix}.bn1"))
            y = bn(functional.conv2d(y, t[f"{prefix}.conv2.weight"], padding=1), f"{prefix}.bn2")
            if f"{prefix}.downsample.0.weight" in t:
                x = bn(functional.conv2d(x, t[f"{prefix}.downsample.0.weight"], stride=stride), f"{prefix}.downsample.1")
            x = functional.relu(y + x)
    expected = x[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(np_resnet(state, 18, image)[32], expected, rtol=1e-9, atol=1e-9)
