"""Tests of lstm_helpers.torch_interop against PyTorch itself.

A converted module must compute our forward pass, and PyTorch's autograd
must give our gradients, in float64 to 1e-10. The test maps torch's
gradients back to our keys itself, slice by slice, instead of calling the
converter on them.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lstm_helpers import lstm, variants as V

TOL = dict(rtol=1e-10, atol=1e-10)
LSTM_BLOCK = {"i": 0, "f": 1, "c": 2, "o": 3}  # PyTorch's row blocks: i, f, g, o
GRU_BLOCK = {"r": 0, "z": 1, "h": 2}  # PyTorch's row blocks: r, z, n


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def ti(torch):
    from lstm_helpers import torch_interop

    return torch_interop


def _np(tensor):
    return tensor.detach().numpy()


def _random_torch_module(torch, kind, D, H, rng, zero_b_hn=False):
    """A float64 module whose weights, including both biases, come from ``rng``."""
    module = getattr(torch.nn, kind)(D, H, dtype=torch.float64)
    with torch.no_grad():
        for name, param in module.named_parameters():
            param.copy_(torch.from_numpy(0.5 * rng.standard_normal(tuple(param.shape))))
        if zero_b_hn:
            module.bias_hh_l0[2 * H:] = 0.0
    return module


def _lstm_grads_from_torch(module, H):
    """Our LSTM gradient dict, read off a torch module's .grad fields block by block."""
    grads = {}
    for g, k in LSTM_BLOCK.items():
        rows = slice(k * H, (k + 1) * H)
        grads[f"W_{g}"] = np.hstack([_np(module.weight_hh_l0.grad[rows]), _np(module.weight_ih_l0.grad[rows])])
        grads[f"b_{g}"] = _np(module.bias_ih_l0.grad[rows])
        # both biases enter as a sum, so they get the same gradient
        np.testing.assert_allclose(_np(module.bias_hh_l0.grad[rows]), grads[f"b_{g}"], rtol=1e-14)
    return grads


def _gru_grads_from_torch(module, H):
    """Our GRU gradient dict from a torch module's .grad fields. z is negated; b_h is b_in."""
    grads = {}
    for g, k in GRU_BLOCK.items():
        rows = slice(k * H, (k + 1) * H)
        sign = -1.0 if g == "z" else 1.0
        grads[f"W_{g}"] = sign * np.hstack([_np(module.weight_hh_l0.grad[rows]), _np(module.weight_ih_l0.grad[rows])])
        grads[f"b_{g}"] = sign * _np(module.bias_ih_l0.grad[rows])
    return grads


def _run_torch_lstm(torch, module, x, h0, c0, dh, dc_last):
    x_t, h0_t, c0_t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    out, (h_n, c_n) = module(x_t, (h0_t[None], c0_t[None]))
    loss = (out * torch.from_numpy(dh)).sum() + (c_n[0] * torch.from_numpy(dc_last)).sum()
    module.zero_grad()
    loss.backward()
    return _np(out), _np(c_n[0]), _np(x_t.grad), _np(h0_t.grad), _np(c0_t.grad)


def _run_torch_gru(torch, module, x, h0, dh):
    x_t, h0_t = (torch.tensor(a, requires_grad=True) for a in (x, h0))
    out, h_n = module(x_t, h0_t[None])
    np.testing.assert_array_equal(_np(h_n[0]), _np(out[-1]))
    module.zero_grad()
    (out * torch.from_numpy(dh)).sum().backward()
    return _np(out), _np(x_t.grad), _np(h0_t.grad)


def _inputs(rng, T, N, D, H):
    return rng.standard_normal((T, N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))


def _assert_same_grads(ours, theirs):
    assert set(ours) == set(theirs)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], **TOL, err_msg=key)


# --------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------

@pytest.mark.parametrize("T, N, D, H", [(1, 1, 2, 3), (5, 3, 4, 2), (7, 2, 6, 4)])
def test_lstm_to_torch_agrees_with_our_forward_and_gradients(torch, ti, T, N, D, H):
    rng = np.random.default_rng(1)
    params = {k: 0.5 * rng.standard_normal(s) for k, s in lstm.lstm_param_shapes(D, H).items()}
    x, h0, c0 = _inputs(rng, T, N, D, H)
    dh, dc_last = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))

    module = ti.lstm_params_to_torch(params)
    assert isinstance(module, torch.nn.LSTM) and module.weight_ih_l0.dtype == torch.float64
    assert not module.batch_first
    np.testing.assert_array_equal(_np(module.bias_hh_l0), 0.0)
    out, c_last, dx_t, dh0_t, dc0_t = _run_torch_lstm(torch, module, x, h0, c0, dh, dc_last)

    h, c, cache = lstm.lstm_forward(x, h0, c0, params)
    dx, dh0, dc0, grads = lstm.lstm_backward(dh, cache, dc_last=dc_last)
    np.testing.assert_allclose(out, h, **TOL)
    np.testing.assert_allclose(c_last, c[-1], **TOL)
    np.testing.assert_allclose(dx_t, dx, **TOL)
    np.testing.assert_allclose(dh0_t, dh0, **TOL)
    np.testing.assert_allclose(dc0_t, dc0, **TOL)
    _assert_same_grads(grads, _lstm_grads_from_torch(module, H))


def test_lstm_from_torch_agrees_with_torch_forward_and_gradients(torch, ti):
    rng = np.random.default_rng(2)
    T, N, D, H = 4, 2, 3, 5
    module = _random_torch_module(torch, "LSTM", D, H, rng)  # nonzero bias_hh too
    x, h0, c0 = _inputs(rng, T, N, D, H)
    dh, dc_last = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    out, c_last, dx_t, dh0_t, dc0_t = _run_torch_lstm(torch, module, x, h0, c0, dh, dc_last)

    params = ti.lstm_params_from_torch(module)
    assert list(params) == list(lstm.lstm_param_shapes(D, H))
    assert all(a.dtype == np.float64 for a in params.values())
    h, c, cache = lstm.lstm_forward(x, h0, c0, params)
    dx, dh0, dc0, grads = lstm.lstm_backward(dh, cache, dc_last=dc_last)
    np.testing.assert_allclose(h, out, **TOL)
    np.testing.assert_allclose(c[-1], c_last, **TOL)
    np.testing.assert_allclose(dx, dx_t, **TOL)
    np.testing.assert_allclose(dh0, dh0_t, **TOL)
    np.testing.assert_allclose(dc0, dc0_t, **TOL)
    _assert_same_grads(grads, _lstm_grads_from_torch(module, H))


def test_lstm_round_trips(torch, ti):
    rng = np.random.default_rng(3)
    D, H = 3, 4
    params = {k: rng.standard_normal(s) for k, s in lstm.lstm_param_shapes(D, H).items()}
    back = ti.lstm_params_from_torch(ti.lstm_params_to_torch(params))
    assert list(back) == list(params)
    for key in params:
        np.testing.assert_array_equal(back[key], params[key])

    module = _random_torch_module(torch, "LSTM", D, H, rng)
    again = ti.lstm_params_to_torch(ti.lstm_params_from_torch(module))
    for name in ("weight_ih_l0", "weight_hh_l0"):
        assert torch.equal(getattr(again, name), getattr(module, name))
    assert torch.equal(again.bias_ih_l0, module.bias_ih_l0 + module.bias_hh_l0)
    assert torch.equal(again.bias_hh_l0, torch.zeros_like(module.bias_hh_l0))


def test_lstm_gate_blocks_are_not_mixed_up(torch, ti):
    # Only the output gate's bias is nonzero: torch's o block (rows 3H:4H) must carry it.
    D, H = 2, 3
    params = {k: np.zeros(s) for k, s in lstm.lstm_param_shapes(D, H).items()}
    params["b_o"] = np.array([1.0, 2.0, 3.0])
    params["W_c"][0, H] = 7.0  # candidate, unit 0, first input -> torch g block, weight_ih
    module = ti.lstm_params_to_torch(params)
    np.testing.assert_array_equal(_np(module.bias_ih_l0), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3])
    assert _np(module.weight_ih_l0)[2 * H, 0] == 7.0
    assert np.count_nonzero(_np(module.weight_ih_l0)) == 1 and not _np(module.weight_hh_l0).any()


# --------------------------------------------------------------------------
# GRU
# --------------------------------------------------------------------------

@pytest.mark.parametrize("T, N, D, H", [(1, 1, 2, 3), (5, 3, 4, 2)])
def test_gru_to_torch_agrees_with_our_forward_and_gradients(torch, ti, T, N, D, H):
    rng = np.random.default_rng(4)
    params = {k: 0.5 * rng.standard_normal(s) for k, s in V.gru_param_shapes(D, H).items()}
    x, h0, _ = _inputs(rng, T, N, D, H)
    dh = rng.standard_normal((T, N, H))

    module = ti.gru_params_to_torch(params, reset_after=True)
    assert isinstance(module, torch.nn.GRU) and module.weight_ih_l0.dtype == torch.float64
    out, dx_t, dh0_t = _run_torch_gru(torch, module, x, h0, dh)

    h, cache = V.gru_forward(x, h0, params, reset_after=True)
    dx, dh0, grads = V.gru_backward(dh, cache)
    np.testing.assert_allclose(out, h, **TOL)
    np.testing.assert_allclose(dx_t, dx, **TOL)
    np.testing.assert_allclose(dh0_t, dh0, **TOL)
    _assert_same_grads(grads, _gru_grads_from_torch(module, H))


def test_gru_from_torch_agrees_with_torch_forward_and_gradients(torch, ti):
    rng = np.random.default_rng(5)
    T, N, D, H = 4, 2, 3, 5
    module = _random_torch_module(torch, "GRU", D, H, rng, zero_b_hn=True)  # b_hr, b_hz nonzero
    x, h0, _ = _inputs(rng, T, N, D, H)
    dh = rng.standard_normal((T, N, H))
    out, dx_t, dh0_t = _run_torch_gru(torch, module, x, h0, dh)

    params = ti.gru_params_from_torch(module)
    assert list(params) == list(V.gru_param_shapes(D, H))
    h, cache = V.gru_forward(x, h0, params, reset_after=True)
    dx, dh0, grads = V.gru_backward(dh, cache)
    np.testing.assert_allclose(h, out, **TOL)
    np.testing.assert_allclose(dx, dx_t, **TOL)
    np.testing.assert_allclose(dh0, dh0_t, **TOL)
    _assert_same_grads(grads, _gru_grads_from_torch(module, H))
    # and the reset-before GRU is a different function
    assert not np.allclose(V.gru_forward(x, h0, params, reset_after=False)[0], out)


def test_gru_round_trips(torch, ti):
    rng = np.random.default_rng(6)
    D, H = 4, 3
    params = {k: rng.standard_normal(s) for k, s in V.gru_param_shapes(D, H).items()}
    back = ti.gru_params_from_torch(ti.gru_params_to_torch(params, reset_after=True))
    assert list(back) == list(params)
    for key in params:
        np.testing.assert_array_equal(back[key], params[key])

    module = _random_torch_module(torch, "GRU", D, H, rng, zero_b_hn=True)
    again = ti.gru_params_to_torch(ti.gru_params_from_torch(module), reset_after=True)
    for name in ("weight_ih_l0", "weight_hh_l0"):
        assert torch.equal(getattr(again, name), getattr(module, name))
    assert torch.equal(again.bias_ih_l0, module.bias_ih_l0 + module.bias_hh_l0)
    assert torch.equal(again.bias_hh_l0, torch.zeros_like(module.bias_hh_l0))


def test_gru_update_gate_is_negated_for_torch(torch, ti):
    D, H = 2, 2
    params = {k: np.zeros(s) for k, s in V.gru_param_shapes(D, H).items()}
    params["b_z"] = np.array([1.5, -0.5])
    params["b_r"] = np.array([0.25, 0.75])
    module = ti.gru_params_to_torch(params, reset_after=True)
    np.testing.assert_array_equal(_np(module.bias_ih_l0), [0.25, 0.75, -1.5, 0.5, 0.0, 0.0])


def test_gru_with_nonzero_b_hn_is_refused(torch, ti):
    module = _random_torch_module(torch, "GRU", 3, 4, np.random.default_rng(7))
    with pytest.raises(ValueError, match=r"nonzero b_hn \(bias_hh_l0\[2H:\]\).*scaled by the reset gate"):
        ti.gru_params_from_torch(module)


def test_reset_before_gru_cannot_go_to_torch(ti):
    params = {k: np.zeros(s) for k, s in V.gru_param_shapes(3, 4).items()}
    with pytest.raises(ValueError, match="torch.nn.GRU only implements the reset-after GRU"):
        ti.gru_params_to_torch(params, reset_after=False)
    with pytest.raises(ValueError, match="reset_after must be True or False"):
        ti.gru_params_to_torch(params, reset_after="yes")
    with pytest.raises(TypeError, match="reset_after"):
        ti.gru_params_to_torch(params)  # the placement must be stated


# --------------------------------------------------------------------------
# Modules, dtypes, bad input
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kind, kwargs, named",
    [
        ("LSTM", {"num_layers": 2}, "num_layers=2"),
        ("LSTM", {"bidirectional": True}, "bidirectional=True"),
        ("LSTM", {"proj_size": 2}, "proj_size=2"),
        ("GRU", {"num_layers": 3}, "num_layers=3"),
        ("GRU", {"bidirectional": True}, "bidirectional=True"),
    ],
)
def test_unsupported_modules_are_refused(torch, ti, kind, kwargs, named):
    module = getattr(torch.nn, kind)(3, 4, **kwargs)
    from_torch = ti.lstm_params_from_torch if kind == "LSTM" else ti.gru_params_from_torch
    with pytest.raises(ValueError, match=rf"{named}.*only single-layer, unidirectional modules without projections"):
        from_torch(module)
    shapes = lstm.lstm_param_shapes(3, 4) if kind == "LSTM" else V.gru_param_shapes(3, 4)
    params = {k: np.zeros(s) for k, s in shapes.items()}
    with pytest.raises(ValueError, match="only single-layer"):
        if kind == "LSTM":
            ti.lstm_params_to_torch(params, module=module)
        else:
            ti.gru_params_to_torch(params, module=module, reset_after=True)


def test_wrong_module_type_and_size_are_refused(torch, ti):
    with pytest.raises(TypeError, match="expected a torch.nn.LSTM, got GRU"):
        ti.lstm_params_from_torch(torch.nn.GRU(3, 4))
    with pytest.raises(TypeError, match="expected a torch.nn.GRU, got LSTM"):
        ti.gru_params_from_torch(torch.nn.LSTM(3, 4))
    params = {k: np.zeros(s) for k, s in lstm.lstm_param_shapes(3, 4).items()}
    with pytest.raises(ValueError, match="input_size=2, hidden_size=4, but the parameters have D=3, H=4"):
        ti.lstm_params_to_torch(params, module=torch.nn.LSTM(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="LSTM parameters are missing 'W_o'"):
        ti.lstm_params_to_torch({k: v for k, v in params.items() if k != "W_o"})
    with pytest.raises(ValueError, match="differs from the module's dtype"):
        ti.lstm_params_to_torch(params, module=torch.nn.LSTM(3, 4), dtype=torch.float64)


def test_existing_module_is_filled_in_place(torch, ti):
    rng = np.random.default_rng(8)
    params = {k: rng.standard_normal(s) for k, s in V.gru_param_shapes(3, 4).items()}
    module = torch.nn.GRU(3, 4, dtype=torch.float64)
    assert ti.gru_params_to_torch(params, module=module, reset_after=True) is module
    back = ti.gru_params_from_torch(module)
    assert all(np.array_equal(back[k], params[k]) for k in params)


def test_dtypes(torch, ti):
    rng = np.random.default_rng(9)
    p32 = {k: rng.standard_normal(s).astype(np.float32) for k, s in lstm.lstm_param_shapes(3, 4).items()}
    module = ti.lstm_params_to_torch(p32)
    assert module.weight_ih_l0.dtype == torch.float32
    back = ti.lstm_params_from_torch(module)
    assert all(a.dtype == np.float32 for a in back.values())
    assert all(np.array_equal(back[k], p32[k]) for k in p32)
    p64 = {k: v.astype(np.float64) for k, v in p32.items()}
    assert ti.lstm_params_to_torch(p64).weight_ih_l0.dtype == torch.float64
    assert ti.lstm_params_to_torch(p64, dtype=torch.float32).weight_ih_l0.dtype == torch.float32
    g64 = ti.gru_params_to_torch({k: np.zeros(s) for k, s in V.gru_param_shapes(3, 4).items()}, reset_after=True)
    assert g64.weight_ih_l0.dtype == torch.float64
    # the float32 module computes what our float32 reference computes, to float32 precision
    x, h0, c0 = (rng.standard_normal(s).astype(np.float32) for s in [(3, 2, 3), (2, 4), (2, 4)])
    out, _ = module(torch.from_numpy(x), (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]))
    h, _, _ = lstm.lstm_forward(x, h0, c0, p32)
    np.testing.assert_allclose(_np(out), h, rtol=1e-5, atol=1e-6)


def test_conversion_leaves_the_global_torch_random_state_alone(torch, ti):
    state = torch.random.get_rng_state()
    ti.lstm_params_to_torch({k: np.zeros(s) for k, s in lstm.lstm_param_shapes(3, 4).items()})
    assert torch.equal(state, torch.random.get_rng_state())


def test_bias_free_modules(torch, ti):
    rng = np.random.default_rng(10)
    module = torch.nn.LSTM(3, 4, bias=False, dtype=torch.float64)
    params = ti.lstm_params_from_torch(module)
    assert all(not params[f"b_{g}"].any() for g in "fico")
    params["b_f"] = rng.standard_normal(4)
    with pytest.raises(ValueError, match="bias=False, but the parameters have nonzero biases"):
        ti.lstm_params_to_torch(params, module=module)
    params["b_f"] = np.zeros(4)
    ti.lstm_params_to_torch(params, module=module)  # zero biases fit a bias-free module


# --------------------------------------------------------------------------
# Without torch
# --------------------------------------------------------------------------

def test_missing_torch_gives_an_install_hint(monkeypatch):
    from lstm_helpers import torch_interop

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    params = {k: np.zeros(s) for k, s in lstm.lstm_param_shapes(3, 4).items()}
    with pytest.raises(ImportError, match=r'pip install -e "\.\[torch\]"'):
        torch_interop.lstm_params_to_torch(params)
    with pytest.raises(ImportError, match="needs PyTorch"):
        torch_interop.gru_params_from_torch(object())


def test_the_package_imports_without_torch():
    # A fresh interpreter in which `import torch` fails: no module may need it at import time.
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        sys.modules["torch"] = None
        import lstm_helpers
        needs_torch = []
        for info in pkgutil.walk_packages(lstm_helpers.__path__, "lstm_helpers."):
            try:
                importlib.import_module(info.name)
            except ImportError as err:
                if "torch" in str(err):
                    needs_torch.append(info.name)
            except Exception:
                pass  # other modules' own problems are not this test's business
        import lstm_helpers.torch_interop, lstm_helpers.variants
        print("needs torch:", needs_torch)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "needs torch: []" in result.stdout, result.stdout
