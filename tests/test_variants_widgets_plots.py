"""Chapter 05's shared-slider app and parameter-count chart, driven from Python.

The app: every shared slider changes the plotted data of all four panels
(read back from the lines), the peephole slider only the peephole panel, and
the plotted curves are what the gate equations say for the hand-set weights.
The chart: every bar's height is the number of trainable numbers in the
arrays that the variant's init function makes, counted here independently.
"""

import numpy as np
import pytest
from matplotlib.figure import Figure

from lstm_helpers import lstm
from lstm_helpers.viz import plots
from lstm_helpers import variants as V
from lstm_helpers.feedforward import sigmoid
from lstm_helpers.viz.widgets import VariantSliders
from lstm_helpers.viz.widgets import variants as W
from conftest import copy_of

PANELS = ("lstm", "peephole", "cifg", "gru")


@pytest.fixture(scope="module")
def app():
    return VariantSliders()


def plotted(app):
    """{variant: {"memory", "h", "keep": array}} read back from the drawn lines."""
    return {v: {name: np.asarray(line.get_ydata(), dtype=float) for name, line in app.lines[v].items()}
            for v in PANELS}


def reset(app, spike_size=1.0, keep_bias=3.0, spike_at=4, peephole=1.5):
    for name, value in (("spike_size", spike_size), ("keep_bias", keep_bias), ("spike_at", spike_at),
                        ("peephole", peephole)):
        app.controls[name].value = value


# ---------------------------------------------------------------------------
# The shared sliders
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("slider,new_value", [("spike_size", 2.2), ("keep_bias", 5.0), ("spike_at", 12)])
def test_one_slider_moves_all_four_panels(app, slider, new_value):
    reset(app)
    before, png_before = plotted(app), app.image.value
    app.controls[slider].value = new_value
    after = plotted(app)
    for variant in PANELS:
        assert not np.allclose(before[variant]["memory"], after[variant]["memory"], equal_nan=True), (
            f"moving {slider} left the {variant} panel's memory unchanged")
    assert app.image.value != png_before
    assert app.status.value == ""


def test_the_peephole_slider_moves_only_the_peephole_panel(app):
    reset(app)
    before = plotted(app)
    app.controls["peephole"].value = -2.0
    after = plotted(app)
    assert not np.allclose(before["peephole"]["memory"], after["peephole"]["memory"])
    for variant in ("lstm", "cifg", "gru"):
        for name in ("memory", "h", "keep"):
            np.testing.assert_array_equal(after[variant][name], before[variant][name])


def test_with_zero_peepholes_the_peephole_panel_is_the_lstm_panel(app):
    reset(app, peephole=0.0)
    data = plotted(app)
    for name in ("memory", "h", "keep"):
        np.testing.assert_array_equal(data["peephole"][name], data["lstm"][name])


def test_the_curves_follow_the_gate_equations(app):
    s, b, k = 1.3, 2.5, 6
    reset(app, spike_size=s, keep_bias=b, spike_at=k)
    data = plotted(app)
    spike = k + 1  # x[k] is read at step k + 1; index 0 holds the initial state
    steps = np.arange(app.steps + 1)
    after = steps[spike:] - spike
    f_rest, f_spike = sigmoid(b), sigmoid(b - W.GATE_GAIN * s)

    # nothing happens before the spike
    for variant in PANELS:
        np.testing.assert_array_equal(data[variant]["memory"][:spike], 0.0)

    # LSTM: writes i * c~ with its own input gate, then keeps sigmoid(b) per step
    written = sigmoid(W.INPUT_BIAS + W.GATE_GAIN * s) * np.tanh(s)
    np.testing.assert_allclose(data["lstm"]["memory"][spike:], written * f_rest ** after, rtol=1e-12)
    assert f"{written:.3f}" in app.readout.value and f"{written * f_rest ** after[-1]:.3f}" in app.readout.value
    np.testing.assert_allclose(data["lstm"]["h"][1:], sigmoid(W.OUTPUT_BIAS) * np.tanh(data["lstm"]["memory"][1:]),
                               rtol=1e-12, atol=1e-15)

    # CIFG: writes (1 - f) * c~ at the spike
    np.testing.assert_allclose(data["cifg"]["memory"][spike:], (1 - f_spike) * np.tanh(s) * f_rest ** after,
                               rtol=1e-12)

    # the share kept is sigmoid(b) except at the spike, in every panel but the peephole one
    for variant in ("lstm", "cifg", "gru"):
        keep = data[variant]["keep"]
        assert np.isnan(keep[0])
        expected = np.full(app.steps, f_rest)
        expected[k] = f_spike
        np.testing.assert_allclose(keep[1:], expected, rtol=1e-12)


def test_the_gru_gets_the_keep_bias_with_the_sign_flipped(app):
    b = 4.0
    gru = W.variant_params("gru", keep_bias=b)
    cifg = W.variant_params("cifg", keep_bias=b)
    assert gru["b_z"].item() == -b and cifg["b_f"].item() == b
    np.testing.assert_array_equal(gru["W_z"], -cifg["W_f"])
    # so 1 - z equals the coupled cell's f, and the GRU's state follows the CIFG's cell state
    reset(app, keep_bias=b)
    data = plotted(app)
    np.testing.assert_allclose(data["gru"]["keep"][1:], data["cifg"]["keep"][1:], rtol=1e-12)
    np.testing.assert_allclose(data["gru"]["memory"], data["cifg"]["memory"], rtol=1e-12, atol=1e-15)
    # and the two GRU lines are one: its memory is its output
    assert app.lines["gru"]["h"] is app.lines["gru"]["memory"]


def test_keeping_more_makes_the_coupled_cells_write_less(app):
    def written(b):
        reset(app, keep_bias=b)
        return {v: plotted(app)[v]["memory"][app.controls["spike_at"].value + 1] for v in PANELS}

    low, high = written(0.0), written(5.5)
    assert high["lstm"] == pytest.approx(low["lstm"], rel=1e-12)  # separate input gate: the same write
    for variant in ("cifg", "gru"):
        assert high[variant] < 0.5 * low[variant]


def test_the_keep_bias_help_explains_the_gru_sign(app):
    assert "b<sub>z</sub> = &minus;b" in app.note.value and "new candidate" in app.note.value
    assert "b_z = −b" in app.controls["keep_bias"].tooltip


# ---------------------------------------------------------------------------
# The learner's cells
# ---------------------------------------------------------------------------


def test_working_learner_cells_are_the_ones_that_run():
    calls = []

    def counting(fn):
        own = copy_of(fn)

        def cell(*args):
            calls.append(fn.__name__)
            return own(*args)

        return cell

    learner = {name: counting(getattr(V, name))
               for name in ("peephole_lstm_cell_forward", "cifg_lstm_cell_forward", "gru_cell_forward")}
    app = VariantSliders(**learner)
    assert app.cells["peephole"] is learner["peephole_lstm_cell_forward"]
    assert app.cells["cifg"] is learner["cifg_lstm_cell_forward"]
    assert app.cells["gru"] is learner["gru_cell_forward"]
    assert app.cells["lstm"] is lstm.lstm_cell_forward
    assert "your own gru_cell_forward" in app.note.value
    calls.clear()
    app.controls["keep_bias"].value = 1.0
    for name in learner:
        assert calls.count(name) == app.steps


def test_unwritten_and_broken_cells_fall_back_to_the_references_with_a_note(capsys):
    def not_started(*args):
        raise NotImplementedError()

    def forgets_the_coupling(x_t, h_prev, c_prev, params):
        h_t, c_t, cache = V.cifg_lstm_cell_forward(x_t, h_prev, c_prev, params)
        return h_t, c_prev, cache

    app = VariantSliders(peephole_lstm_cell_forward=not_started, cifg_lstm_cell_forward=forgets_the_coupling)
    assert app.cells["peephole"] is V.peephole_lstm_cell_forward
    assert app.cells["cifg"] is V.cifg_lstm_cell_forward
    assert "not written yet" in app.note.value and "does not pass its check" in app.note.value
    assert capsys.readouterr().out == ""  # the notes go into the app, not into the cell's output


def test_a_cell_that_fails_while_drawing_keeps_the_sliders_alive(app):
    good = app.cells["gru"]
    app.cells["gru"] = lambda *args: (_ for _ in ()).throw(RuntimeError("boom"))
    try:
        app.controls["spike_size"].value = 0.7
        assert "RuntimeError: boom" in app.status.value
    finally:
        app.cells["gru"] = good
    app.controls["spike_size"].value = 0.8
    assert app.status.value == ""


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="steps"):
        VariantSliders(steps=1)
    with pytest.raises(ValueError, match="gru"):
        W.variant_params("mlstm", 1.0)


# ---------------------------------------------------------------------------
# The parameter-count chart
# ---------------------------------------------------------------------------

INIT = {
    "lstm": lambda D, H, rng: lstm.init_lstm_params(D, H, rng),
    "peephole": lambda D, H, rng: V.init_peephole_lstm_params(D, H, rng),
    "cifg": lambda D, H, rng: V.init_cifg_lstm_params(D, H, rng),
    "gru": lambda D, H, rng: V.init_gru_params(D, H, rng),
}


def bar_heights(fig):
    bars = [p for p in fig.axes[0].patches if (p.get_gid() or "").startswith("bar:")]
    return {p.get_gid().split(":", 1)[1]: p.get_height() for p in bars}


@pytest.mark.parametrize("D,H", [(1, 1), (3, 5), (10, 32), (64, 7)])
def test_bar_heights_are_the_sizes_of_the_parameter_arrays(D, H):
    rng = np.random.default_rng(0)
    fig = plots.param_count_bars(D, H)
    assert isinstance(fig, Figure)
    heights = bar_heights(fig)
    assert list(heights) == list(PANELS)
    for variant, init in INIT.items():
        arrays = init(D, H, rng)
        assert heights[variant] == sum(a.size for a in arrays.values()), variant
    labels = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert f"{heights['gru']:,}" in labels and "75% of the LSTM" in labels


def test_the_chart_draws_the_counts_it_is_given():
    counts = {"lstm": 100, "peephole": 112, "cifg": 80, "gru": 60}  # a learner's (wrong) numbers
    assert bar_heights(plots.param_count_bars(2, 3, counts=counts)) == counts


def test_the_chart_refuses_bad_sizes_and_incomplete_counts():
    with pytest.raises(ValueError, match="D"):
        plots.param_count_bars(0, 4)
    with pytest.raises(ValueError, match="H"):
        plots.param_count_bars(3, 2.5)
    with pytest.raises(ValueError, match="gru"):
        plots.param_count_bars(3, 4, counts={"lstm": 1, "peephole": 1, "cifg": 1})
