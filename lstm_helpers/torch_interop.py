"""Move weights between the course's parameter dicts and PyTorch's ``nn.LSTM`` / ``nn.GRU``.

PyTorch computes the same cells, but stores the weights differently:

* It keeps the input and the recurrent weights apart, with the gate blocks
  stacked as rows: ``weight_ih_l0: (G*H, D)`` acts on ``x_t`` and
  ``weight_hh_l0: (G*H, H)`` on ``h_{t-1}``. Our ``W: (H, H + D)`` is the two
  side by side, hidden state first: ``W = [W_hh block | W_ih block]``.
* LSTM gate blocks are ordered i, f, g, o (its ``g`` is our candidate ``c̃``).
* GRU gate blocks are ordered r, z, n, and PyTorch writes
  ``h_t = (1 - z)*n + z*h_{t-1}``: its ``z`` is our ``1 - z``. Because
  ``σ(-a) = 1 - σ(a)``, negating the z block's weights and bias turns one
  into the other exactly.
* PyTorch's GRU is the reset-after form,
  ``n = tanh(W_in·x_t + b_in + r*(W_hn·h_{t-1} + b_hn))``, our
  ``reset_after=True``. Our GRU has no bias inside the reset product, so
  a module whose ``b_hn`` (``bias_hh_l0[2H:]``) is not zero cannot be
  converted exactly, and ``gru_params_from_torch`` refuses it.
* Every gate has two biases, ``bias_ih`` and ``bias_hh``, which are simply
  added (except ``b_hn``). Importing sums them; exporting puts our bias in
  ``bias_ih`` and zeros in ``bias_hh``.

Only single-layer, unidirectional modules without projections are supported.
``batch_first`` does not change the weights; modules made here use
``batch_first=False`` (time-major, like the course). PyTorch is optional:
it is imported only when one of these functions runs.
"""

import numpy as np

from ._validate import check_params, hidden_size
from .lstm import lstm_param_shapes
from .variants import check_reset_after, gru_param_shapes

# Gate blocks in PyTorch's row order, with our names. The GRU's z block is
# negated both ways: PyTorch's z is our 1 - z.
TORCH_LSTM_GATES = ("i", "f", "c", "o")  # PyTorch: i, f, g, o
TORCH_GRU_GATES = ("r", "z", "h")  # PyTorch: r, z, n
_GRU_SIGN = {"r": 1.0, "z": -1.0, "h": 1.0}


def _import_torch():
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            "lstm_helpers.torch_interop needs PyTorch, which is not installed. From the course "
            'folder, install it with\n    pip install -e ".[torch]"\n'
            "(a CPU-only build is enough) and restart the kernel. Nothing else in lstm_helpers needs PyTorch."
        ) from err
    return torch


# --------------------------------------------------------------------------
# Shared checks and helpers
# --------------------------------------------------------------------------

def _check_module(module, kind):
    """Raise unless ``module`` is a single-layer, unidirectional torch.nn.<kind> without projections."""
    torch = _import_torch()
    cls = getattr(torch.nn, kind)
    if not isinstance(module, cls):
        raise TypeError(f"expected a torch.nn.{kind}, got {type(module).__name__}")
    problems = []
    if module.num_layers != 1:
        problems.append(f"num_layers={module.num_layers}")
    if module.bidirectional:
        problems.append("bidirectional=True")
    if getattr(module, "proj_size", 0):
        problems.append(f"proj_size={module.proj_size}")
    if problems:
        raise ValueError(
            f"this torch.nn.{kind} has {', '.join(problems)}; only single-layer, unidirectional "
            f"modules without projections are supported (num_layers=1, bidirectional=False, "
            f"proj_size=0), like the course's one-layer {kind} cell. Convert one layer at a time "
            "by copying its weights into such a module."
        )
    return torch


def _target_module(torch, kind, params, D, H, module, dtype):
    """The module to fill: ``module`` after checking it, or a new one.

    A new module gets ``dtype``, by default float32 if every array in params
    is float32, else float64. A given module keeps its own dtype.
    """
    if module is not None:
        _check_module(module, kind)
        if module.input_size != D or module.hidden_size != H:
            raise ValueError(
                f"the torch.nn.{kind} has input_size={module.input_size}, hidden_size={module.hidden_size}, "
                f"but the parameters have D={D}, H={H}"
            )
        own = module.weight_ih_l0.dtype
        if dtype is not None and dtype != own:
            raise ValueError(
                f"dtype={dtype} differs from the module's dtype {own}; leave dtype out or convert the module"
            )
        return module
    if dtype is None:
        all_float32 = all(value.dtype == np.float32 for value in params.values())
        dtype = torch.float32 if all_float32 else torch.float64
    # PyTorch draws random initial weights, which are overwritten below;
    # fork_rng leaves the caller's global random state untouched.
    with torch.random.fork_rng(devices=[]):
        return getattr(torch.nn, kind)(input_size=D, hidden_size=H, num_layers=1, bias=True,
                                       batch_first=False, bidirectional=False, dtype=dtype)


def _to_numpy(torch, tensor):
    """A NumPy copy of a tensor: float64 stays float64, every other dtype becomes float32."""
    dtype = torch.float64 if tensor.dtype == torch.float64 else torch.float32
    return tensor.detach().to(device="cpu", dtype=dtype).numpy().copy()


def _fill(torch, module, weight_ih, weight_hh, bias_ih):
    """Copy stacked NumPy weights into the module; its bias_hh becomes zero."""
    if not module.bias and np.any(bias_ih != 0):
        raise ValueError(
            "the module was made with bias=False, but the parameters have nonzero biases; "
            "use a module with bias=True"
        )
    with torch.no_grad():
        for name, value in [("weight_ih_l0", weight_ih), ("weight_hh_l0", weight_hh)]:
            getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        if module.bias:
            module.bias_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(bias_ih)))
            module.bias_hh_l0.zero_()
    return module


def _read(torch, module):
    """The module's weights as NumPy arrays: weight_ih (G*H, D), weight_hh (G*H, H), bias_ih, bias_hh (G*H,)."""
    weight_ih = _to_numpy(torch, module.weight_ih_l0)
    weight_hh = _to_numpy(torch, module.weight_hh_l0)
    if module.bias:
        bias_ih, bias_hh = _to_numpy(torch, module.bias_ih_l0), _to_numpy(torch, module.bias_hh_l0)
    else:
        bias_ih = bias_hh = np.zeros(weight_ih.shape[0], dtype=weight_ih.dtype)
    return weight_ih, weight_hh, bias_ih, bias_hh


def _checked(params, shapes_fn, gate, model):
    """Check a course parameter dict; return it as float arrays, with D and H."""
    H = hidden_size(params, f"b_{gate}", model)
    W_shape = np.shape(params.get(f"W_{gate}", ()))
    D = W_shape[1] - H if len(W_shape) == 2 else 0  # a wrong W is named by check_params
    return check_params(params, shapes_fn(D, H), model), D, H


# --------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------

def lstm_params_to_torch(params, module=None, dtype=None):
    """A ``torch.nn.LSTM`` that computes what ``lstm_forward(x, h0, c0, params)`` computes.

    params: the course's LSTM dict (W_f, W_i, W_c, W_o: (H, H + D); b_*: (H,)).
    module: an existing single-layer ``torch.nn.LSTM(D, H)`` to fill in place,
        or None to make a new one (time-major, ``batch_first=False``).
    dtype: the torch dtype of a new module; by default float32 if every
        array in params is float32, else float64. A given module keeps its own.
    Returns the module. Its ``bias_ih_l0`` holds our biases, ``bias_hh_l0`` zeros.
    """
    torch = _import_torch()
    p, D, H = _checked(params, lstm_param_shapes, "f", "LSTM")
    module = _target_module(torch, "LSTM", p, D, H, module, dtype)
    weight_ih = np.concatenate([p[f"W_{g}"][:, H:] for g in TORCH_LSTM_GATES])  # (4H, D)
    weight_hh = np.concatenate([p[f"W_{g}"][:, :H] for g in TORCH_LSTM_GATES])  # (4H, H)
    bias_ih = np.concatenate([p[f"b_{g}"] for g in TORCH_LSTM_GATES])  # (4H,)
    return _fill(torch, module, weight_ih, weight_hh, bias_ih)


def lstm_params_from_torch(module):
    """The course's LSTM parameter dict for a single-layer, unidirectional ``torch.nn.LSTM``.

    Returns {W_f, W_i, W_c, W_o: (H, H + D); b_f, b_i, b_c, b_o: (H,)} as NumPy
    copies (float64 for a float64 module, else float32); each bias is
    ``bias_ih + bias_hh`` of its gate (zeros for a module made with bias=False).
    """
    torch = _check_module(module, "LSTM")
    H = module.hidden_size
    weight_ih, weight_hh, bias_ih, bias_hh = _read(torch, module)
    bias = bias_ih + bias_hh  # the two biases of a gate only ever appear as a sum
    params = {}
    for k, g in enumerate(TORCH_LSTM_GATES):
        rows = slice(k * H, (k + 1) * H)
        params[f"W_{g}"] = np.concatenate([weight_hh[rows], weight_ih[rows]], axis=1)  # [h | x]
        params[f"b_{g}"] = bias[rows]
    return {key: params[key] for key in lstm_param_shapes(module.input_size, H)}  # our key order


# --------------------------------------------------------------------------
# GRU
# --------------------------------------------------------------------------

def gru_params_to_torch(params, module=None, dtype=None, *, reset_after):
    """A ``torch.nn.GRU`` that computes what ``gru_forward(x, h0, params, reset_after=True)`` computes.

    params: the course's GRU dict (W_z, W_r, W_h: (H, H + D); b_z, b_r, b_h: (H,)).
    module: an existing single-layer ``torch.nn.GRU(D, H)`` to fill in place,
        or None to make a new one (time-major, ``batch_first=False``).
    dtype: the torch dtype of a new module; by default float32 if every
        array in params is float32, else float64. A given module keeps its own.
    reset_after: the placement the params were made (trained) for; it must be
        stated, and must be True, because PyTorch only implements that form.
    Returns the module: blocks r, z, n with the z block negated (PyTorch's z is
    our 1 - z); ``bias_ih_l0`` holds our biases, ``bias_hh_l0`` zeros.
    """
    if not check_reset_after(reset_after):
        raise ValueError(
            "torch.nn.GRU only implements the reset-after GRU, n = tanh(W_in·x_t + b_in + "
            "r*(W_hn·h_{t-1} + b_hn)), which is our reset_after=True. These parameters are for "
            "reset_after=False (r scales h_{t-1} before W_h), which computes a different function, "
            "and torch.nn.GRU has no option for it. Train with reset_after=True to move weights to PyTorch."
        )
    torch = _import_torch()
    p, D, H = _checked(params, gru_param_shapes, "z", "GRU")
    module = _target_module(torch, "GRU", p, D, H, module, dtype)
    sign = _GRU_SIGN
    weight_ih = np.concatenate([sign[g] * p[f"W_{g}"][:, H:] for g in TORCH_GRU_GATES])  # (3H, D)
    weight_hh = np.concatenate([sign[g] * p[f"W_{g}"][:, :H] for g in TORCH_GRU_GATES])  # (3H, H)
    bias_ih = np.concatenate([sign[g] * p[f"b_{g}"] for g in TORCH_GRU_GATES])  # (3H,)
    return _fill(torch, module, weight_ih, weight_hh, bias_ih)


def gru_params_from_torch(module):
    """The course's GRU parameter dict for a single-layer, unidirectional ``torch.nn.GRU``.

    Use the result with ``reset_after=True``: that is the GRU PyTorch computes.
    Returns {W_z, W_r, W_h: (H, H + D); b_z, b_r, b_h: (H,)} as NumPy copies
    (float64 for a float64 module, else float32). The z block is negated
    (PyTorch's z is our 1 - z); b_r and b_z are ``bias_ih + bias_hh`` of their
    gate, and b_h is ``b_in``.

    Raises ValueError if ``b_hn = bias_hh_l0[2H:]`` is not all zero: PyTorch
    multiplies it by r, our GRU has no such bias, and no choice of our
    parameters computes the same function.
    """
    torch = _check_module(module, "GRU")
    H = module.hidden_size
    weight_ih, weight_hh, bias_ih, bias_hh = _read(torch, module)
    if np.any(bias_hh[2 * H:] != 0):
        raise ValueError(
            "this torch.nn.GRU has a nonzero b_hn (bias_hh_l0[2H:]). PyTorch computes "
            "n = tanh(W_in·x_t + b_in + r*(W_hn·h_{t-1} + b_hn)), so b_hn is scaled by the reset "
            "gate r; the course's GRU (reset_after=True) has no bias inside that product, so it "
            "cannot compute this module exactly. Convert a module trained with bias_hh_l0[2H:] "
            "held at zero (or made with bias=False)."
        )
    bias = bias_ih + bias_hh  # for r and z the two biases only ever appear as a sum
    params = {}
    for k, g in enumerate(TORCH_GRU_GATES):
        rows = slice(k * H, (k + 1) * H)
        params[f"W_{g}"] = _GRU_SIGN[g] * np.concatenate([weight_hh[rows], weight_ih[rows]], axis=1)
        params[f"b_{g}"] = _GRU_SIGN[g] * bias[rows]
    return {key: params[key] for key in gru_param_shapes(module.input_size, H)}  # our key order
