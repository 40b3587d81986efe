"""The codec between the grader and the learner's process: data only, never code.

A message is ``MAGIC``, a little-endian u32 header length, a JSON header, then raw buffers::

    MAGIC | len(header) | {"root": node, "buffers": [nbytes, ...]} | buffer 0 | buffer 1 | ...

A node is a JSON null, bool, int, float (NaN and infinities as Python's json writes them) or
string, or an object tagged by ``"type"``: ``list``/``tuple`` (``"items"``: nodes), ``dict``
(``"items"``: object of nodes), ``tensor``/``ndarray``/``numpy_scalar`` (``"dtype"``, ``"shape"``,
``"buffer"``: the index of its bytes). Buffers are in the host's byte order (little-endian).

``decode`` is safe on hostile bytes: it imports and calls nothing named by the data, checks every
count, dtype, shape and length against the bytes actually present, and builds fresh CPU tensors
and arrays that own their memory. ``encode`` takes only the types listed above (exact types, so a
subclass cannot bring its own methods along) and says plainly what it refused.

Frames carry messages over a stream socket: ``FRAME`` (a 4-byte tag, a u64 length), then the message.
"""

import json
import math
import struct

import numpy as np
import torch

MAGIC = b"\x93GRDWIRE"
HEADER_LENGTH = struct.Struct("<I")
FRAME = struct.Struct("<4sQ")

MAX_DEPTH = 32
MAX_NODES = 1_000_000
MAX_HEADER_BYTES = 32 * 2**20
MAX_MESSAGE_BYTES = 256 * 2**20
MAX_NDIM = 32

TORCH_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}
TORCH_DTYPE_NAMES = {dtype: name for name, dtype in TORCH_DTYPES.items()}
NUMPY_DTYPES = {name: np.dtype(name).newbyteorder("<") for name in TORCH_DTYPES if name != "bfloat16"}
ITEM_BYTES = {name: torch.empty((), dtype=dtype).element_size() for name, dtype in TORCH_DTYPES.items()}

# Frame tags: grader -> sandbox
TAG_SETUP, TAG_CALL = b"SETU", b"CALL"
CALL_ID = "__call_id__"  # the key that ties a reply to its request
# sandbox -> grader, on the session channel
TAG_READY, TAG_BROKEN, TAG_VALUE, TAG_FAIL = b"REDY", b"BRKN", b"VALU", b"FAIL"
# sandbox -> grader, from the trusted supervisor of each session and from the zygote
TAG_INIT, TAG_EXIT, TAG_ZYGOTE = b"INIT", b"EXIT", b"ZYGO"

PLAIN_TYPES = "None, bool, int, float, str, list, tuple, dict, torch.Tensor or numpy.ndarray"


class WireError(ValueError):
    """A value that cannot be sent, or bytes that are not a well-formed message."""


def encode(obj) -> bytes:
    """Serialise ``obj`` (built only from the supported types) into one message.

    Raises WireError naming the offending value and where it sits, e.g.
    ``returned a MyTensor (a torch.Tensor subclass) at result[1]; return a plain torch.Tensor``.
    """
    buffers: list[bytes] = []
    root = _encode_node(obj, buffers, path=(), depth=0)
    try:
        header = json.dumps({"root": root, "buffers": [len(b) for b in buffers]}, separators=(",", ":"))
    except ValueError as error:  # e.g. an int with more digits than Python will print
        raise WireError(f"cannot send this value: {error}") from None
    header_bytes = header.encode("utf-8")
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise WireError("returned a structure too large to send; return tensors instead of long lists")
    message = b"".join([MAGIC, HEADER_LENGTH.pack(len(header_bytes)), header_bytes, *buffers])
    if len(message) > MAX_MESSAGE_BYTES:
        raise WireError(f"returned {len(message)} bytes of data; the limit is {MAX_MESSAGE_BYTES}")
    return message


def decode(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES):
    """Rebuild the value of one message, or raise WireError if the bytes are not a valid message."""
    if len(data) > max_bytes:
        raise WireError(f"message of {len(data)} bytes exceeds the limit of {max_bytes}")
    view = memoryview(data)
    prefix = len(MAGIC) + HEADER_LENGTH.size
    if len(view) < prefix or bytes(view[: len(MAGIC)]) != MAGIC:
        raise WireError("not a wire message (bad magic bytes)")
    (header_length,) = HEADER_LENGTH.unpack_from(view, len(MAGIC))
    if header_length > MAX_HEADER_BYTES or prefix + header_length > len(view):
        raise WireError("truncated or oversized header")
    header = _parse_header(bytes(view[prefix : prefix + header_length]))
    buffers = _split_buffers(view[prefix + header_length :], header.get("buffers"))
    decoder = _Decoder(buffers)
    value = decoder.node(header.get("root"), depth=0)
    if decoder.used != set(range(len(buffers))):
        raise WireError("message holds buffers that no tensor refers to")
    return value


def pack_frame(tag: bytes, obj) -> bytes:
    """One frame: the 4-byte ``tag`` and the encoded ``obj``, ready for ``sendall``."""
    message = encode(obj)
    return FRAME.pack(tag, len(message)) + message


def _encode_node(obj, buffers: list[bytes], path: tuple, depth: int):
    if depth > MAX_DEPTH:
        raise WireError(f"returned a structure nested more than {MAX_DEPTH} levels deep")
    kind = type(obj)
    if obj is None or kind in (bool, int, str):
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else {"type": "float", "value": repr(obj)}
    if kind in (list, tuple):
        items = [_encode_node(item, buffers, (*path, i), depth + 1) for i, item in enumerate(obj)]
        return {"type": kind.__name__, "items": items}
    if kind is dict:
        return {"type": "dict", "items": _encode_dict(obj, buffers, path, depth)}
    if kind in (torch.Tensor, torch.nn.Parameter):
        return _encode_tensor(obj, buffers, path)
    if kind is np.ndarray or isinstance(obj, np.generic):
        return _encode_numpy(obj, buffers, path)
    raise WireError(_refusal(obj, path))


def _encode_dict(obj: dict, buffers: list[bytes], path: tuple, depth: int) -> dict:
    items = {}
    for key, value in obj.items():
        if type(key) is not str:
            raise WireError(f"returned a dict with a {type(key).__name__} key{_where(path)}; use str keys")
        items[key] = _encode_node(value, buffers, (*path, key), depth + 1)
    return items


def _encode_tensor(tensor: torch.Tensor, buffers: list[bytes], path: tuple) -> dict:
    # Only plain tensors get here, but a learner may still have pushed a global torch function mode.
    with torch._C.DisableTorchFunction():
        if tensor.is_nested or tensor.layout != torch.strided or tensor.is_meta:
            raise WireError(f"returned a {_tensor_kind(tensor)} tensor{_where(path)}; return a dense tensor")
        if tensor.dtype not in TORCH_DTYPE_NAMES:
            raise WireError(f"returned a tensor of dtype {tensor.dtype}{_where(path)}, which cannot be sent")
        flat = tensor.detach().cpu().resolve_conj().resolve_neg().contiguous()
        raw = flat.reshape(-1).view(torch.uint8).numpy().tobytes()
        shape = list(flat.shape)
    buffers.append(raw)
    return {
        "type": "tensor",
        "dtype": TORCH_DTYPE_NAMES[tensor.dtype],
        "shape": shape,
        "buffer": len(buffers) - 1,
    }


def _encode_numpy(array, buffers: list[bytes], path: tuple) -> dict:
    name = array.dtype.name
    if name not in NUMPY_DTYPES or (isinstance(array, np.generic) and type(array) is not array.dtype.type):
        raise WireError(
            f"returned a numpy {type(array).__name__} of dtype {array.dtype}{_where(path)}, which cannot "
            "be sent"
        )
    little = np.asarray(array, dtype=NUMPY_DTYPES[name])
    buffers.append(little.tobytes())
    kind = "ndarray" if type(array) is np.ndarray else "numpy_scalar"
    return {"type": kind, "dtype": name, "shape": list(little.shape), "buffer": len(buffers) - 1}


def _tensor_kind(tensor: torch.Tensor) -> str:
    if tensor.is_nested:
        return "nested"
    return "meta" if tensor.is_meta else str(tensor.layout).removeprefix("torch.")


def _refusal(obj, path: tuple) -> str:
    kind = type(obj)
    name = f"{'an' if kind.__name__[:1] in 'AEIOUaeiou' else 'a'} {kind.__name__}"
    for base, plain in (
        (torch.Tensor, "torch.Tensor"),
        (np.ndarray, "numpy.ndarray"),
        (dict, "dict"),
        (list, "list"),
        (tuple, "tuple"),
        (str, "str"),
        (int, "int"),
        (float, "float"),
    ):
        if issubclass(kind, base):
            return f"returned {name} (a {plain} subclass){_where(path)}; return a plain {plain}"
    return f"returned {name}{_where(path)}; return only {PLAIN_TYPES}"


def _where(path: tuple) -> str:
    if not path:
        return ""
    first, *rest = path if type(path[0]) is str else ("", *path)
    return f" at {first}" + "".join(f"[{step!r}]" for step in rest)


def _reject_duplicate_keys(pairs: list) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise WireError("header repeats a key")
    return result


def _reject_constant(name: str):
    raise WireError(f"header holds the non-JSON constant {name}")


def _parse_header(raw: bytes) -> dict:
    try:
        header = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise WireError(f"header is not valid JSON: {type(error).__name__}") from None
    if type(header) is not dict:
        raise WireError("header is not a JSON object")
    return header


def _split_buffers(data: memoryview, lengths) -> list[memoryview]:
    if type(lengths) is not list or len(lengths) > MAX_NODES:
        raise WireError("header has no valid buffer table")
    if not all(type(n) is int and n >= 0 for n in lengths) or sum(lengths) != len(data):
        raise WireError("buffer lengths do not match the bytes present (truncated or padded message)")
    buffers, start = [], 0
    for length in lengths:
        buffers.append(data[start : start + length])
        start += length
    return buffers


class _Decoder:
    """Walks a parsed header, checking each node; every buffer may back at most one value."""

    def __init__(self, buffers: list[memoryview]):
        self.buffers = buffers
        self.used: set[int] = set()
        self.nodes = 0

    def node(self, node, depth: int):
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise WireError(f"message nests deeper than {MAX_DEPTH} levels or holds too many values")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict:
            raise WireError(f"unexpected JSON {type(node).__name__} in header")
        kind = node.get("type")
        if kind in ("list", "tuple") and type(node.get("items")) is list:
            items = [self.node(item, depth + 1) for item in node["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and type(node.get("items")) is dict:
            return {key: self.node(value, depth + 1) for key, value in node["items"].items()}
        if kind == "float" and node.get("value") in ("nan", "inf", "-inf"):
            return float(node["value"])
        if kind in ("tensor", "ndarray", "numpy_scalar"):
            return self.array(kind, node)
        raise WireError(f"unknown node in header: {str(kind)[:40]!r}")

    def array(self, kind: str, node: dict):
        dtype, shape, index = node.get("dtype"), node.get("shape"), node.get("buffer")
        allowed = TORCH_DTYPES if kind == "tensor" else NUMPY_DTYPES
        if type(dtype) is not str or dtype not in allowed:
            raise WireError(f"dtype {str(dtype)[:40]!r} is not allowed")
        if (
            type(shape) is not list
            or len(shape) > MAX_NDIM
            or not all(type(n) is int and n >= 0 for n in shape)
        ):
            raise WireError("invalid shape")
        if kind == "numpy_scalar" and shape:
            raise WireError("a numpy scalar has shape ()")
        if type(index) is not int or not 0 <= index < len(self.buffers) or index in self.used:
            raise WireError("tensor refers to a missing or already used buffer")
        self.used.add(index)
        raw = self.buffers[index]
        if math.prod(shape) * ITEM_BYTES[dtype] != len(raw):
            raise WireError(f"shape {shape} of {dtype} does not match its {len(raw)} bytes")
        if kind == "tensor":
            return _fresh_tensor(raw, TORCH_DTYPES[dtype], shape)
        array = np.frombuffer(raw, dtype=NUMPY_DTYPES[dtype]).reshape(shape).astype(dtype, copy=True)
        return array if kind == "ndarray" else array[()]


def _fresh_tensor(raw: memoryview, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
    tensor = torch.empty(shape, dtype=dtype)
    if len(raw):
        tensor.reshape(-1).view(torch.uint8).numpy()[:] = np.frombuffer(raw, dtype=np.uint8)
    return tensor
