"""Shape and parameter validation shared by every reference module.

Each reference function checks its arguments here first, so a wrong shape
gives a ``ValueError`` that names the argument and the expected shape
instead of a silent NumPy broadcast.
"""

import numpy as np


def as_float_array(name, value):
    """Return ``value`` as a floating-point ndarray (float64 unless already float32)."""
    arr = np.asarray(value)
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return arr
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")


def check_shape(name, arr, expected):
    """Raise ``ValueError`` unless ``arr.shape`` matches ``expected``.

    ``expected`` is a tuple of ints, or of strings naming a dimension
    (``"N"``), which only fixes the number of axes.
    """
    shape = np.shape(arr)
    ok = len(shape) == len(expected) and all(
        isinstance(e, str) or s == e for s, e in zip(shape, expected)
    )
    if not ok:
        pretty = "(" + ", ".join(str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
        raise ValueError(f"{name} has shape {shape}, expected {pretty}")
    return arr


def check_params(params, shapes, model):
    """Check a parameter dict against ``{key: shape}``; name what is wrong.

    Returns the parameters as float arrays in a new dict.
    """
    if not isinstance(params, dict):
        raise ValueError(f"{model} parameters must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in shapes if k not in params]
    if missing:
        raise ValueError(
            f"{model} parameters are missing {', '.join(repr(k) for k in missing)}; "
            f"expected keys {', '.join(shapes)}"
        )
    out = {}
    for key, shape in shapes.items():
        arr = as_float_array(f"params[{key!r}]", params[key])
        check_shape(f"params[{key!r}]", arr, shape)
        out[key] = arr
    return out


def hidden_size(params, key, model):
    """Read H from the bias ``params[key]`` (shape ``(H,)``)."""
    if not isinstance(params, dict) or key not in params:
        raise ValueError(f"{model} parameters are missing {key!r}")
    b = np.asarray(params[key])
    if b.ndim != 1:
        raise ValueError(f"params[{key!r}] has shape {b.shape}, expected (H,)")
    return b.shape[0]
