"""Plain data across the sandbox wall, and the code that calls a learner's function in their kernel.

During ``lstm-course grade`` the grading process chooses the inputs of every
trial, sends them into the learner's kernel, and reads back what the
learner's function returned. Both directions use the format below: JSON in
which every container is tagged, and arrays travel as raw bytes with their
dtype and shape. Nothing is pickled and nothing is evaluated.

=====================  ====================================================
value                  encoded as
=====================  ====================================================
None, bool, int,       themselves
float, str
list / tuple / dict    ``{"L": [...]}``, ``{"T": [...]}``, ``{"D": [[key, value], ...]}``
numpy array            ``{"A": [dtype, shape, base64 bytes]}``
numpy scalar           ``{"S": [dtype, base64 bytes]}``
numpy Generator        ``{"G": bit-generator state}`` (into the kernel only)
anything else          ``{"O": type name}`` (out of the kernel only; compares as wrong)
=====================  ====================================================

:func:`decode` is strict, because what comes out of a kernel is hostile: it
accepts only the dtypes in :data:`DTYPES`, checks that the byte count matches
dtype and shape before it builds an array, and bounds depth, item count and
total size. It raises :class:`DecodeError` on anything else.

This module imports only the standard library and NumPy, because its source
is also sent into the learner's kernel as the caller (:func:`run`); see
:mod:`lstm_helpers.classroom.verdicts` for the grading side.
"""

import base64
import hashlib
import json
import time
import warnings

import numpy as np

MIME = "application/vnd.lstm-course.answer.v1"  # not +json: the text is parsed by the grader, not by Jupyter

#: dtypes an answer may contain. No object arrays, no structured dtypes.
DTYPES = frozenset({"float64", "float32", "float16", "int64", "int32", "int16", "int8",
                    "uint64", "uint32", "uint16", "uint8", "bool"})
MAX_DEPTH = 16
MAX_ITEMS = 200_000
MAX_BYTES = 256 << 20
MAX_TEXT = 100_000


class DecodeError(ValueError):
    """What came back is not plain data in the agreed format."""


class Opaque:
    """Stands for a returned object that is not plain data; its type name is kept for the message."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name} object>"


def encode(value, _depth=0):
    """``value`` as JSON-able plain data (see the table in the module docstring)."""
    if _depth > MAX_DEPTH:
        return {"O": "too deeply nested"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2 ** 63 else {"O": "int too large"}
    if isinstance(value, float):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.name not in DTYPES:
            return {"O": f"ndarray of dtype {value.dtype}"}
        data = np.ascontiguousarray(value)
        return {"A": [data.dtype.name, list(data.shape), base64.b64encode(data.tobytes()).decode("ascii")]}
    if isinstance(value, np.generic):
        if value.dtype.name not in DTYPES:
            return {"O": type(value).__name__}
        return {"S": [value.dtype.name, base64.b64encode(value.tobytes()).decode("ascii")]}
    if isinstance(value, np.random.Generator):
        return {"G": value.bit_generator.state}
    if isinstance(value, (list, tuple)):
        return {"L" if isinstance(value, list) else "T": [encode(v, _depth + 1) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value):
            return {"O": "dict with keys that are not strings or integers"}
        return {"D": [[k, encode(v, _depth + 1)] for k, v in value.items()]}
    return {"O": type(value).__name__}


class _Budget:
    def __init__(self):
        self.items, self.bytes = 0, 0

    def take(self, items=1, nbytes=0):
        self.items += items
        self.bytes += nbytes
        if self.items > MAX_ITEMS or self.bytes > MAX_BYTES:
            raise DecodeError("the answer is larger than the grader accepts")


def decode(obj, budget=None, _depth=0, generators=False):
    """The value ``obj`` encodes; raises :class:`DecodeError` for anything outside the format.

    ``generators``: accept ``{"G": ...}`` (only the grader's own inputs carry random generators).
    """
    budget = budget or _Budget()
    budget.take()
    if _depth > MAX_DEPTH:
        raise DecodeError("nested too deeply")
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, (int, float)):
        return obj
    if isinstance(obj, str):
        if len(obj) > MAX_TEXT:
            raise DecodeError("a string is too long")
        return obj
    if not isinstance(obj, dict) or len(obj) != 1:
        raise DecodeError(f"unexpected {type(obj).__name__}")
    (tag, body), = obj.items()
    if tag in ("L", "T"):
        if not isinstance(body, list):
            raise DecodeError("a list must hold a list")
        items = [decode(v, budget, _depth + 1, generators) for v in body]
        return items if tag == "L" else tuple(items)
    if tag == "D":
        if not isinstance(body, list):
            raise DecodeError("a dict must hold a list of pairs")
        out = {}
        for pair in body:
            if not isinstance(pair, list) or len(pair) != 2:
                raise DecodeError("a dict entry must be a [key, value] pair")
            key = pair[0]
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise DecodeError("a dict key must be a string or an integer")
            out[key] = decode(pair[1], budget, _depth + 1, generators)
        return out
    if tag == "A":
        return _decode_array(body, budget)
    if tag == "S":
        if not isinstance(body, list) or len(body) != 2:
            raise DecodeError("a scalar must be [dtype, data]")
        return _decode_array([body[0], [], body[1]], budget)[()]
    if tag == "G" and generators:
        generator = np.random.Generator(np.random.PCG64())
        generator.bit_generator.state = body
        return generator
    if tag == "O":
        name = body if isinstance(body, str) and len(body) < 100 else "object"
        return Opaque(name)
    raise DecodeError(f"unknown tag {tag!r}")


def _decode_array(body, budget):
    if not isinstance(body, list) or len(body) != 3:
        raise DecodeError("an array must be [dtype, shape, data]")
    dtype, shape, data = body
    if dtype not in DTYPES:
        raise DecodeError(f"dtype {dtype!r} is not accepted")
    if (not isinstance(shape, list) or len(shape) > 32
            or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2 ** 31 for n in shape)):
        raise DecodeError("an array's shape must be a short list of non-negative integers")
    if not isinstance(data, str):
        raise DecodeError("an array's data must be base64 text")
    itemsize = np.dtype(dtype).itemsize
    count = 1
    for n in shape:
        count *= n
    expected = count * itemsize
    budget.take(nbytes=expected)
    if len(data) != 4 * ((expected + 2) // 3):
        raise DecodeError("an array's data does not match its dtype and shape")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise DecodeError("an array's data is not valid base64") from None
    if len(raw) != expected:
        raise DecodeError("an array's data does not match its dtype and shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def loads(text):
    """Parse JSON text from a kernel (size-checked, NaN allowed) and :func:`decode` it."""
    if not isinstance(text, str) or len(text) > MAX_BYTES * 2:
        raise DecodeError("not JSON text of an acceptable size")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise DecodeError("not valid JSON") from None


# ---------------------------------------------------------------------------
# Inside the learner's kernel
# ---------------------------------------------------------------------------
# Everything below runs in the learner's kernel, sent as source text by the
# grader. It only calls the learner's function on the inputs it is given and
# reports what came back; it decides nothing.


def _digests(value, path=()):
    """``{path: sha256 of the bytes}`` for every array inside ``value`` (dicts and lists followed)."""
    found = {}
    if isinstance(value, np.ndarray):
        found[path] = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest() + str(value.shape)
    elif isinstance(value, dict):
        for key, item in value.items():
            found.update(_digests(item, path + (key,)))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found.update(_digests(item, path + (index,)))
    return found


def _at(value, path):
    for key in path:
        value = value[key]
    return value


def _text(thing, limit=2000):
    try:
        text = str(thing)
    except BaseException:  # noqa: B036 - a learner's exception may fail to print
        text = "(could not be printed)"
    return text[:limit]


def call_trials(function, trials):
    """Call ``function`` on each trial's arguments; what it returned, raised, warned and changed in place."""
    outcomes = []
    for args in trials:
        before = _digests(args)
        outcome = {"error": None, "warnings": [], "changed": [], "seconds": 0.0}
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outcome["result"] = encode(function(*args))
            except Exception as exc:  # the learner's error is part of the answer
                outcome["error"] = [type(exc).__name__, _text(exc)]
        outcome["seconds"] = time.perf_counter() - started
        outcome["warnings"] = [[w.category.__name__, _text(w.message, 500)] for w in caught[:5]]
        after = _digests(args)
        for path in sorted(set(before) | set(after), key=str):
            if before.get(path) != after.get(path):
                try:
                    outcome["changed"].append([list(path), encode(_at(args, path))])
                except Exception:
                    outcome["changed"].append([list(path), None])
        outcomes.append(outcome)
    return outcomes


def run(request, namespace):
    """The kernel side of one grading request; shows the outcome as a display of type :data:`MIME`.

    ``request``: ``{"nonce", "name", "kind": "function" | "value", "trials": encoded argument lists}``.
    ``namespace``: the learner's global namespace.
    """
    from IPython.display import display

    name = request["name"]
    if name not in namespace:
        reply = {"missing": name}
    elif request["kind"] == "value":
        reply = {"value": encode(namespace[name])}
    elif not callable(namespace[name]):
        reply = {"not_callable": type(namespace[name]).__name__}
    else:
        trials = [list(decode(args, generators=True)) for args in request["trials"]]
        reply = {"outcomes": call_trials(namespace[name], trials)}
    reply["nonce"] = request["nonce"]
    display({MIME: json.dumps(reply)}, raw=True)
