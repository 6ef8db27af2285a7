"""Chapter 04's cell diagrams and slider apps, driven from Python.

The diagrams: every variant and every highlight draws, and the highlighted
elements really are drawn differently from the rest (colours read back from
the patches and lines). The apps: moving a slider changes the plotted data,
presets set the sliders, and the learner's own cell is used when it works
and replaced by the reference, with a note, when it does not.
"""

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from lstm_helpers import lstm
from lstm_helpers.viz import plots
from lstm_helpers.feedforward import sigmoid
from lstm_helpers.viz.plots import cell
from lstm_helpers.viz.palette import COLORS
from lstm_helpers.viz.widgets import GateSliders, GradientView
from lstm_helpers.viz.widgets import gates
from conftest import copy_of

RED = to_rgba(COLORS["highlight"])
MUTED_FILL = to_rgba(cell.MUTED_FILL)


# ---------------------------------------------------------------------------
# Diagrams
# ---------------------------------------------------------------------------


def drawn_elements(fig):
    """{gid: artist} for every named box, op and wire of a cell diagram."""
    ax = fig.axes[0]
    found = {}
    for artist in [*ax.patches, *ax.lines]:
        gid = artist.get_gid()
        if gid and gid.split(":")[0] in ("box", "op", "wire"):
            found.setdefault(gid, []).append(artist)
    return found


def colours(artist):
    if hasattr(artist, "get_facecolor") and not hasattr(artist, "get_xydata"):
        return to_rgba(artist.get_facecolor()), to_rgba(artist.get_edgecolor())
    return None, to_rgba(artist.get_color())


CASES = [(v, h) for v in cell.VARIANTS for h in cell.PARTS[v]]


@pytest.mark.parametrize("variant,part", CASES)
def test_highlighted_part_is_red_and_the_rest_muted(variant, part):
    fig = plots.lstm_cell_diagram(variant, highlight=part)
    assert isinstance(fig, Figure)
    spec = {e.name: e for e in cell.cell_spec(variant)}
    hot = cold = 0
    for gid, artists in drawn_elements(fig).items():
        element = spec[gid.split(":", 1)[1]]
        for artist in artists:
            fill, edge = colours(artist)
            if part in element.parts:
                hot += 1
                assert edge == RED, f"{gid} belongs to {part!r} but is not drawn in the highlight colour"
            else:
                cold += 1
                assert edge != RED, f"{gid} is not part of {part!r} but is drawn in the highlight colour"
                if gid.split(":")[0] in ("box", "op"):
                    assert fill == MUTED_FILL, f"{gid} should be muted when {part!r} is highlighted"
    assert hot and cold, f"highlighting {part!r} should mark some elements and mute others"


@pytest.mark.parametrize("variant", cell.VARIANTS)
def test_plain_diagram_uses_the_course_notation(variant):
    fig = plots.lstm_cell_diagram(variant, highlight=())
    for gid, artists in drawn_elements(fig).items():
        for artist in artists:
            fill, edge = colours(artist)
            assert edge != RED
            if gid.startswith("box:"):
                assert fill == to_rgba(COLORS["layer"]), f"{gid}: learned layers are yellow boxes"
            elif gid.startswith("op:"):
                assert fill == to_rgba(COLORS["pointwise"]), f"{gid}: pointwise operations are pink circles"


def test_the_lstm_has_four_layers_and_the_variants_their_differences():
    def names(variant):
        return {gid for gid in drawn_elements(plots.lstm_cell_diagram(variant))}

    lstm_names = names("lstm")
    assert {g for g in lstm_names if g.startswith("box:")} == {"box:layer_f", "box:layer_i", "box:layer_c",
                                                               "box:layer_o"}
    assert {"op:times_f", "op:plus", "op:times_i", "op:tanh_c", "op:times_o"} <= lstm_names
    peephole = names("peephole")
    assert {"wire:peep_f", "wire:peep_i_b", "wire:peep_o"} <= peephole and lstm_names <= peephole
    cifg = names("cifg")
    assert "box:layer_i" not in cifg and "op:one_minus" in cifg
    gru = names("gru")
    assert {g for g in gru if g.startswith("box:")} == {"box:layer_r", "box:layer_z", "box:layer_h"}
    assert "op:tanh_c" not in gru and "op:one_minus" in gru


@pytest.mark.parametrize("variant,expected", [("lstm", set()), ("peephole", {"peephole"}), ("cifg", {"coupling"}),
                                              ("gru", {"reset", "update_gate"})])
def test_default_highlight_shows_how_a_variant_differs(variant, expected):
    fig, ax = cell.new_figure(cell.WIDTH, cell.HEIGHT)
    assert cell.draw_cell(ax, variant) == expected
    reds = [gid for gid, artists in drawn_elements(fig).items() if any(colours(a)[1] == RED for a in artists)]
    assert bool(reds) == bool(expected)


def test_bad_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="forget"):
        plots.lstm_cell_diagram("lstm", highlight="forgetting")
    with pytest.raises(ValueError, match="peephole"):
        plots.lstm_cell_diagram("lstm", highlight="peephole")  # only the peephole variant has them
    with pytest.raises(ValueError, match="gru"):
        plots.lstm_cell_diagram("mlstm")


def test_valve_labels_appear_only_in_the_pipes_and_valves_view():
    def texts(fig):
        return {t.get_text() for t in fig.axes[0].texts}

    assert "forget valve" in texts(plots.lstm_cell_diagram(highlight="valves"))
    assert "forget valve" not in texts(plots.lstm_cell_diagram(highlight="forget"))


def test_chain_and_legend():
    fig = plots.lstm_chain(steps=3)
    modules = [p for p in fig.axes[0].patches if p.get_gid() == "module"]
    assert len(modules) == 3
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert {"$x_{t-1}$", "$x_{t}$", "$x_{t+1}$"} <= labels
    assert sum(1 for p in fig.axes[0].patches if p.get_gid() == "box:layer_f") == 3
    assert isinstance(plots.notation_legend(), Figure)


# ---------------------------------------------------------------------------
# The gate sliders
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    return GateSliders()


def plotted(app, name):
    return np.asarray(app.lines[name].get_ydata(), dtype=float)


def test_gate_bias_sets_the_gate_value_exactly_at_the_ends():
    assert sigmoid(gates.gate_bias(1.0)) == 1.0 and sigmoid(gates.gate_bias(0.0)) == 0.0
    for value in (0.01, 0.3, 0.5, 0.97):
        assert sigmoid(gates.gate_bias(value)) == pytest.approx(value, rel=1e-12)


def test_moving_a_slider_changes_the_plotted_cell_state(app):
    app.apply_preset("leaky")
    before = plotted(app, "c")
    png_before = app.image.value
    app.controls["forget"].value = 0.5
    after = plotted(app, "c")
    assert not np.allclose(before, after)
    assert app.image.value != png_before
    # before the spike the memory decays as c0 * f^t
    t = np.arange(app.spike_at + 1)
    np.testing.assert_allclose(after[: app.spike_at + 1], app.c0 * 0.5 ** t, rtol=1e-12)
    assert app.controls["preset"].value == "custom"  # a hand-moved slider leaves the preset


def test_output_gate_moves_h_but_not_c(app):
    app.apply_preset("write and keep")
    c_before, h_before = plotted(app, "c"), plotted(app, "h")
    app.controls["output"].value = 0.3
    np.testing.assert_array_equal(plotted(app, "c"), c_before)
    np.testing.assert_allclose(plotted(app, "h")[1:], 0.3 * np.tanh(c_before[1:]), atol=1e-12)  # h[0] is h_0 = 0
    assert not np.allclose(plotted(app, "h"), h_before)
    app.controls["output"].value = 1.0


def test_presets_set_the_sliders_and_the_memory_follows(app):
    app.controls["candidate"].value = 0.7
    app.controls["preset"].value = "remember forever"
    assert (app.controls["forget"].value, app.controls["input"].value) == (1.0, 0.0)
    np.testing.assert_array_equal(plotted(app, "c"), np.full(app.steps + 1, app.c0))  # the spike never gets in

    app.controls["preset"].value = "overwrite"
    assert (app.controls["forget"].value, app.controls["input"].value) == (0.0, 1.0)
    c = plotted(app, "c")
    expected = np.zeros(app.steps + 1)
    expected[0], expected[app.spike_at + 1] = app.c0, 0.7  # c_t is just the current candidate
    np.testing.assert_allclose(c, expected, atol=1e-9)

    app.controls["preset"].value = "write and keep"
    np.testing.assert_allclose(plotted(app, "c")[app.spike_at + 1:], app.c0 + 0.7, atol=1e-9)

    app.controls["preset"].value = "leaky"
    assert (app.controls["forget"].value, app.controls["input"].value) == (0.8, 0.5)


def test_a_preset_redraws_once(app):
    calls = []
    original = app.update
    app.update = lambda values: (calls.append(values), original(values))
    try:
        app.controls["preset"].value = "overwrite"
        app.controls["preset"].value = "remember forever"
    finally:
        del app.update
    assert len(calls) == 2


def test_gradient_panel_follows_the_forget_gate(app):
    app.controls["forget"].value = 0.9
    np.testing.assert_allclose(plotted(app, "lstm"), 0.9 ** np.arange(1, app.steps + 1), rtol=1e-9)
    app.controls["forget"].value = 1.0
    np.testing.assert_array_equal(plotted(app, "lstm"), np.ones(app.steps))
    rnn = plotted(app, "rnn")
    assert rnn[-1] < 1e-2 * rnn[0]  # over the same 40 lags the tanh RNN keeps less than 1%


def test_a_broken_cell_falls_back_to_the_reference_with_a_note(capsys):
    def forgets_to_update(x_t, h_prev, c_prev, params):
        h_t, c_t, cache = lstm.lstm_cell_forward(x_t, h_prev, c_prev, params)
        return h_t, c_prev, cache

    app = GateSliders(forgets_to_update)
    assert app.cell is lstm.lstm_cell_forward
    assert "reference" in app.note.value and "c_t is wrong" in app.note.value
    assert "reference" in capsys.readouterr().out


def test_an_unwritten_cell_falls_back_too():
    def not_started(x_t, h_prev, c_prev, params):
        raise NotImplementedError()

    app = GateSliders(not_started)
    assert app.cell is lstm.lstm_cell_forward and "not written yet" in app.note.value


def test_a_working_cell_is_the_one_that_runs():
    calls = []
    own = copy_of(lstm.lstm_cell_forward)

    def learner_cell(x_t, h_prev, c_prev, params):
        calls.append(1)
        return own(x_t, h_prev, c_prev, params)

    app = GateSliders(learner_cell)
    assert app.cell is learner_cell and "your own" in app.note.value
    calls.clear()
    app.controls["forget"].value = 0.6
    assert len(calls) == app.steps


def test_a_cell_that_fails_while_drawing_keeps_the_sliders_alive(app):
    def crashes(*args):
        raise RuntimeError("boom")

    good = app.cell
    app.cell = crashes
    try:
        app.controls["forget"].value = 0.42
        assert "RuntimeError: boom" in app.status.value
    finally:
        app.cell = good
    app.controls["forget"].value = 0.43
    assert app.status.value == ""


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="spike_at"):
        GateSliders(steps=10, spike_at=10)
    with pytest.raises(ValueError, match="leaky"):
        GateSliders().apply_preset("forever")


# ---------------------------------------------------------------------------
# The gradient view
# ---------------------------------------------------------------------------


def test_gradient_view_adds_the_cell_state_curve_to_chapter_03s_app():
    view = GradientView(max_len=120)
    assert {"sigma_max", "seq_len", "input_scale", "forget"} <= set(view.controls)
    assert view.controls["seq_len"].value == 120
    view.controls["forget"].value = 0.95
    lstm_curve = np.asarray(view.lines["lstm"].get_ydata())
    np.testing.assert_allclose(lstm_curve, 0.95 ** np.arange(1, 121), rtol=1e-9)
    view.controls["forget"].value = 1.0
    np.testing.assert_array_equal(np.asarray(view.lines["lstm"].get_ydata()), np.ones(120))
    rnn = np.asarray(view.lines["rnn"].get_ydata())
    assert rnn[-1] < 1e-6 * rnn[0]  # the tanh RNN's gradient fades over the same lags
    view.controls["seq_len"].value = 30
    assert len(view.lines["lstm"].get_ydata()) == 30


def test_cell_state_gradient_is_the_product_of_forget_gates():
    f = np.array([0.5, 0.9, 1.0, 0.8])  # f_1 .. f_4
    np.testing.assert_allclose(gates.cell_state_gradient_by_lag(f), [0.8, 0.8, 0.72, 0.36])
    # and it agrees with backpropagation through the reference cell along the cell state
    rng = np.random.default_rng(0)
    params = gates.gate_params(0.7, 0.4, 0.9, 0.5)
    x = rng.standard_normal((6, 1, 1))
    h, c, f_run = gates.run_cell(lstm.lstm_cell_forward, x, params)
    _, _, cache = lstm.lstm_forward(x, np.zeros((1, 1)), np.full((1, 1), 0.5), params)
    _, _, dc0, _ = lstm.lstm_backward(np.zeros((6, 1, 1)), cache, dc_last=np.ones((1, 1)))
    assert dc0.item() == pytest.approx(gates.cell_state_gradient_by_lag(f_run)[-1], rel=1e-12)
