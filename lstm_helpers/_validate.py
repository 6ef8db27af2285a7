"""Argument checks for the reference modules, made where a caller enters them.

A public reference function is decorated with the function that checks its
arguments::

    @checked_by(_check_gate)
    def forget_gate(hx, params):
        return sigmoid(hx @ params["W_f"].T + params["b_f"])

Called from outside, ``forget_gate`` first runs ``_check_gate``, so a wrong
shape gives a ``ValueError`` that names the argument and the expected shape
instead of a silent NumPy broadcast. Called from inside another checked
function (``lstm_cell_forward`` calls the gates, ``lstm_forward`` calls the
cell), it skips the check: the caller has already checked the arguments it
builds them from. One LSTM step therefore checks its arguments once, not once
per gate, and a sequence once, not once per step; the body of each function
is only its equations.

The rule this relies on: a checked function checks everything its body uses,
and never calls code that its caller passed in (a callback would run inside
the check-free zone).
"""

import builtins
import contextvars
import functools
import inspect
import types

import numpy as np

_inside_checked_call = contextvars.ContextVar("lstm_helpers_inside_checked_call", default=False)


def _checked_entry(*args, **kwargs):
    # The body of every decorated function. It runs with a globals dict of its
    # own (see checked_by), holding the function's _check and _equations: a
    # closure would stop the hidden tests from swapping the function's code.
    if _inside.get():
        return _equations(*args, **kwargs)  # noqa: F821 (from the function's own globals)
    arguments = _check(*args, **kwargs)  # noqa: F821
    token = _inside.set(True)  # noqa: F821
    try:
        return _equations(*arguments)  # noqa: F821
    finally:
        _inside.reset(token)  # noqa: F821


def checked_by(check):
    """Decorator: run ``check`` on the arguments when a caller enters the function.

    check: a function with the same parameters (names, order and defaults) as
        the decorated one, which raises ``ValueError`` naming a bad argument
        and otherwise returns every argument, checked and converted (for
        example to a float array), as a tuple in parameter order.
    Calls made while another checked function runs skip the check.
    """
    def decorate(equations):
        ours, theirs = inspect.signature(check).parameters, inspect.signature(equations).parameters
        if list(ours.values()) != list(theirs.values()):
            raise TypeError(f"{check.__name__}{inspect.signature(check)} does not take the parameters of "
                            f"{equations.__name__}{inspect.signature(equations)}")
        namespace = {"__builtins__": builtins, "_inside": _inside_checked_call,
                     "_check": check, "_equations": equations}
        entry = types.FunctionType(_checked_entry.__code__, namespace, equations.__name__)
        return functools.update_wrapper(entry, equations)

    return decorate


# -- the checks themselves -----------------------------------------------------------------------

def as_float_array(name, value):
    """Return ``value`` as a floating-point ndarray (float64 unless already float32)."""
    arr = np.asarray(value)
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return arr
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")


def check_shape(name, arr, expected):
    """Raise ``ValueError`` unless ``arr.shape`` matches ``expected``; return ``arr``.

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


def float_array(name, value, expected):
    """``value`` as a float array of shape ``expected`` (see :func:`check_shape`)."""
    return check_shape(name, as_float_array(name, value), expected)


def sequence(name, value):
    """A time-major sequence ``(T, N, D)`` as a float array, with at least one time step."""
    x = float_array(name, value, ("T", "N", "D"))
    if x.shape[0] == 0:
        raise ValueError(f"{name} has shape {x.shape}: a sequence needs at least one time step")
    return x


def upstream_gradient(name, value, expected):
    """The gradient ``dh: (T, N, H)`` handed to a sequence's backward pass, as a float array.

    A wrong number of time steps is named as such: it usually means that dh
    belongs to another forward pass than the cache.
    """
    arr = as_float_array(name, value)
    if arr.ndim == 3 and arr.shape[0] != expected[0]:
        raise ValueError(f"{name} has shape {arr.shape}, expected {tuple(expected)}: {arr.shape[0]} time "
                         f"steps, but the forward pass ran {expected[0]}")
    return check_shape(name, arr, expected)


def check_params(params, shapes, model):
    """Check a parameter dict against ``{key: shape}``; name what is wrong.

    A missing key is reported with the shape it should have. Returns the
    parameters as float arrays in a new dict, in the order of ``shapes``.
    """
    if not isinstance(params, dict):
        raise ValueError(f"{model} parameters must be a dict of arrays, got {type(params).__name__}")
    missing = [key for key in shapes if key not in params]
    if missing:
        wanted = ", ".join(f"{key!r} {shapes[key]}" for key in missing)
        raise ValueError(f"{model} parameters are missing {wanted}; expected keys {', '.join(shapes)}")
    return {key: float_array(f"params[{key!r}]", params[key], shape) for key, shape in shapes.items()}


def hidden_size(params, key, model):
    """Read H from the bias ``params[key]`` (shape ``(H,)``)."""
    if not isinstance(params, dict) or key not in params:
        raise ValueError(f"{model} parameters are missing {key!r}")
    b = np.asarray(params[key])
    if b.ndim != 1:
        raise ValueError(f"params[{key!r}] has shape {b.shape}, expected (H,)")
    return b.shape[0]
