"""Reads and writes PyTorch state dicts (`torch.save`'s zip format) without torch.

Since PyTorch 1.6 `torch.save` writes a zip archive whose entries all sit under one
folder `<prefix>/`: `data.pkl` (a protocol-2 pickle of the state dict, whose tensors
refer to their storages by persistent id), `data/<key>` (each storage's raw bytes),
`byteorder` ("little" or "big"; absent in files older than PyTorch 1.10, which are
little-endian) and `version`. `read_state_dict` unpickles `data.pkl` with an unpickler
that only knows the few globals a state dict of plain tensors needs and refuses every
other one, so a checkpoint can run no code. `write_state_dict` writes the same format,
with the pickle's opcodes written out by hand, so files for tests or converted weights
are made without torch; `torch.load(path, weights_only=True)` reads them.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from tfseg.errors import TfsegError

# torch storage class → numpy dtype (None: no numpy equivalent).
_STORAGE_DTYPES: dict[str, np.dtype | None] = {
    "FloatStorage": np.dtype("float32"),
    "DoubleStorage": np.dtype("float64"),
    "HalfStorage": np.dtype("float16"),
    "BFloat16Storage": None,
    "LongStorage": np.dtype("int64"),
    "IntStorage": np.dtype("int32"),
    "ShortStorage": np.dtype("int16"),
    "CharStorage": np.dtype("int8"),
    "ByteStorage": np.dtype("uint8"),
    "BoolStorage": np.dtype("bool"),
}
_DTYPE_STORAGES = {dtype: name for name, dtype in _STORAGE_DTYPES.items() if dtype is not None}
_EXPECTED = (
    "expected a PyTorch checkpoint written by torch.save since PyTorch 1.6: a zip archive "
    "with <name>/data.pkl and <name>/data/<storage>"
)


class _StorageType:
    """Stands in for a torch storage class (`torch.FloatStorage`, …) while unpickling."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _Storage:
    """A storage read from the archive: a 1-D numpy array of `numel` elements."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """torch._utils._rebuild_tensor_v2 for numpy: the strided view of the storage, copied."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor's storage is not a storage record")
    size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
    if len(size) != len(stride) or storage_offset < 0 or min(size, default=0) < 0 or min(stride, default=0) < 0:
        raise pickle.UnpicklingError(f"a tensor has an invalid layout (size {size}, stride {stride})")
    array = storage.array
    if 0 in size:
        return np.zeros(size, dtype=array.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= array.size:
        raise pickle.UnpicklingError(
            f"a tensor of size {size} and stride {stride} at offset {storage_offset} reaches past "
            f"its storage of {array.size} elements"
        )
    view = np.lib.stride_tricks.as_strided(
        array[storage_offset:], shape=size, strides=tuple(s * array.itemsize for s in stride), writeable=False
    )
    return np.array(view, copy=True, order="C")


def _rebuild_parameter(data, requires_grad, backward_hooks):
    """torch._utils._rebuild_parameter for numpy: the parameter's data."""
    return data


_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    """Unpickles data.pkl, allowing only the globals of a state dict of plain tensors."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, byteorder: str, path) -> None:
        super().__init__(file)
        self._archive, self._prefix, self._byteorder, self._path = archive, prefix, byteorder, path
        self._storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        try:
            return _GLOBALS[(module, name)]
        except KeyError:
            raise TfsegError(
                f"{self._path}: the checkpoint's pickle refers to {module}.{name}, which a state "
                f"dict of plain tensors does not need; refused (only tensors, their storages and "
                f"OrderedDict are read)"
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {str(pid)[:80]}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"storage record {key!r} has no storage type")
        if storage_type.dtype is None:
            raise TfsegError(
                f"{self._path}: storage {key!r} holds {storage_type.name[:-7].lower()} values, "
                f"which numpy cannot represent; convert the tensors to float32 in PyTorch first"
            )
        key = str(key)
        if key not in self._storages:
            self._storages[key] = _Storage(self._read_storage(key, storage_type.dtype, int(numel)))
        return self._storages[key]

    def _read_storage(self, key: str, dtype: np.dtype, numel: int) -> np.ndarray:
        try:
            raw = self._archive.read(f"{self._prefix}data/{key}")
        except KeyError:
            raise pickle.UnpicklingError(f"storage {self._prefix}data/{key} is missing from the archive") from None
        nbytes = numel * dtype.itemsize
        if numel < 0 or len(raw) < nbytes:
            raise pickle.UnpicklingError(
                f"storage {self._prefix}data/{key} has {len(raw)} bytes, fewer than its {numel} "
                f"{dtype} elements need"
            )
        stored = dtype.newbyteorder("<" if self._byteorder == "little" else ">")
        return np.frombuffer(raw, dtype=stored, count=numel).astype(dtype)


def _open_archive(path: Path) -> tuple[zipfile.ZipFile, str]:
    """The open archive and its entries' folder ("<prefix>/"), or a one-line error."""
    if not path.is_file():
        raise TfsegError(f"{path}: no such file ({_EXPECTED})")
    if not zipfile.is_zipfile(path):
        raise TfsegError(
            f"{path} is not a zip archive ({_EXPECTED}; re-save a legacy checkpoint with a "
            f"current PyTorch: torch.save(torch.load(old), new))"
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise TfsegError(f"{path}: cannot open the zip archive ({error})") from None
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        archive.close()
        found = "no <name>/data.pkl" if not pickles else f"{len(pickles)} */data.pkl entries"
        raise TfsegError(f"{path}: the zip archive has {found} ({_EXPECTED})")
    return archive, pickles[0][: -len("data.pkl")]


def read_state_dict(path) -> dict[str, np.ndarray]:
    """Reads a PyTorch state dict saved with `torch.save` (zip format) without torch.

    Args:
        path: str or Path of the checkpoint, e.g. torchvision's `resnet34-b627a593.pth`.

    Returns:
        dict. Parameter and buffer name → numpy array (a contiguous copy, native byte order,
        the tensor's dtype: float32, float64, float16, int64, int32, int16, int8, uint8 or
        bool), in the file's order. A checkpoint whose top object is not a dict (e.g.
        {"model": state_dict, ...}) is an error; read such files in PyTorch.

    Raises:
        TfsegError: the file is missing, not a zip checkpoint (legacy or tar formats),
            damaged, holds bfloat16 tensors, or its pickle refers to anything but tensors,
            their storages and OrderedDict (it then runs no code).
    """
    path = Path(path)
    archive, prefix = _open_archive(path)
    with archive:
        byteorder = "little"
        if f"{prefix}byteorder" in archive.namelist():
            byteorder = archive.read(f"{prefix}byteorder").decode("ascii", "replace").strip()
            if byteorder not in ("little", "big"):
                raise TfsegError(f"{path}: unknown byte order {byteorder[:20]!r} in {prefix}byteorder")
        unpickler = _Unpickler(io.BytesIO(archive.read(f"{prefix}data.pkl")), archive, prefix, byteorder, path)
        try:
            state = unpickler.load()
        except TfsegError:
            raise
        except Exception as error:  # a damaged pickle raises many kinds
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise TfsegError(f"{path}: cannot read the checkpoint's pickle ({message})") from None
    if not isinstance(state, dict):
        raise TfsegError(f"{path}: the checkpoint holds a {type(state).__name__}, not a state dict")
    tensors = {}
    for key, value in state.items():
        if not isinstance(value, np.ndarray):
            raise TfsegError(
                f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor (expected a "
                f"state dict, e.g. model.state_dict())"
            )
        tensors[str(key)] = value
    return tensors


class _PickleWriter:
    """Writes the protocol-2 pickle of a state dict of tensors, opcode by opcode, as
    `torch.save` would (torch need not be importable to name its globals)."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.memo: dict[tuple[str, str], int] = {}
        self.out.write(pickle.PROTO + bytes([2]))

    def _memo_put(self) -> int:
        index = len(self.memo)
        self.out.write(pickle.BINPUT + bytes([index]) if index < 256 else pickle.LONG_BINPUT + struct.pack("<I", index))
        return index

    def global_(self, module: str, name: str) -> None:
        if (module, name) in self.memo:
            index = self.memo[(module, name)]
            self.out.write(pickle.BINGET + bytes([index]) if index < 256 else pickle.LONG_BINGET + struct.pack("<I", index))
            return
        self.out.write(pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii"))
        self.memo[(module, name)] = self._memo_put()

    def string(self, text: str) -> None:
        data = text.encode("utf-8")
        self.out.write(pickle.BINUNICODE + struct.pack("<I", len(data)) + data)

    def integer(self, value: int) -> None:
        if 0 <= value < 256:
            self.out.write(pickle.BININT1 + bytes([value]))
        elif -(2**31) <= value < 2**31:
            self.out.write(pickle.BININT + struct.pack("<i", value))
        else:
            data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            self.out.write(pickle.LONG1 + bytes([len(data)]) + data)

    def int_tuple(self, values) -> None:
        self.out.write(pickle.MARK)
        for value in values:
            self.integer(int(value))
        self.out.write(pickle.TUPLE)

    def empty_ordered_dict(self) -> None:
        self.global_("collections", "OrderedDict")
        self.out.write(pickle.EMPTY_TUPLE + pickle.REDUCE)

    def tensor(self, storage_name: str, key: str, shape) -> None:
        """_rebuild_tensor_v2(storage, 0, shape, contiguous strides, False, OrderedDict())."""
        strides, step = [], 1
        for n in reversed(shape):
            strides.append(step)
            step *= max(int(n), 1)
        numel = int(np.prod(shape, dtype=np.int64))
        self.global_("torch._utils", "_rebuild_tensor_v2")
        self.out.write(pickle.MARK)
        # the storage: persistent id ("storage", torch.<Type>Storage, key, "cpu", numel)
        self.out.write(pickle.MARK)
        self.string("storage")
        self.global_("torch", storage_name)
        self.string(key)
        self.string("cpu")
        self.integer(numel)
        self.out.write(pickle.TUPLE + pickle.BINPERSID)
        self.integer(0)
        self.int_tuple(shape)
        self.int_tuple(reversed(strides))
        self.out.write(pickle.NEWFALSE)
        self.empty_ordered_dict()
        self.out.write(pickle.TUPLE + pickle.REDUCE)

    def state_dict(self, entries) -> bytes:
        """entries: (name, storage class name, storage key, shape) per tensor."""
        self.empty_ordered_dict()
        if entries:
            self.out.write(pickle.MARK)
            for name, storage_name, key, shape in entries:
                self.string(name)
                self.tensor(storage_name, key, shape)
            self.out.write(pickle.SETITEMS)
        self.out.write(pickle.STOP)
        return self.out.getvalue()


def _write_aligned(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Writes one stored (uncompressed) entry whose data starts at a multiple of 64 bytes,
    as torch.save does (padding in an extra field with torch's id "FB")."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    start = archive.fp.tell() + 30 + len(name.encode("utf-8"))
    padding = (-(start + 4)) % 64
    info.extra = struct.pack("<HH", 0x4246, padding) + b"Z" * padding
    archive.writestr(info, data)


def write_state_dict(path, tensors: dict[str, np.ndarray]) -> None:
    """Writes `tensors` as a PyTorch state dict in torch.save's zip format, without torch.

    `torch.load(path, weights_only=True)` returns an OrderedDict of CPU tensors equal to
    `tensors` (contiguous, no requires_grad); `read_state_dict` reads it back.

    Args:
        path: str or Path of the file to write (the archive's folder is its stem).
        tensors: dict. Name → array of dtype float32, float64, float16, int64, int32,
            int16, int8, uint8 or bool (other dtypes raise a TfsegError).
    """
    path = Path(path)
    entries, storages = [], []
    for index, (name, value) in enumerate(tensors.items()):
        array = np.asarray(value)
        storage_name = _DTYPE_STORAGES.get(array.dtype.newbyteorder("="))
        if storage_name is None:
            raise TfsegError(f"{path}: tensor {name!r} has dtype {array.dtype}, which a torch storage cannot hold here")
        entries.append((str(name), storage_name, str(index), array.shape))
        storages.append(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
    prefix = (path.stem or "archive") + "/"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        _write_aligned(archive, f"{prefix}data.pkl", _PickleWriter().state_dict(entries))
        _write_aligned(archive, f"{prefix}byteorder", b"little")
        for index, data in enumerate(storages):
            _write_aligned(archive, f"{prefix}data/{index}", data)
        _write_aligned(archive, f"{prefix}version", b"3\n")
