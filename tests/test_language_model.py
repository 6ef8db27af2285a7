"""Chapter 07: the language model's maths against central differences and PyTorch, sampling
tested statistically, the corpus, the n-gram, training and the shipped results, the widgets."""

import json
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure

from lstm_helpers import language_model as lm
from lstm_helpers.experiment import char_lm, corpus, ngram, runner, training
from lstm_helpers.gradients import numerical_gradient
from lstm_helpers.lstm import lstm_forward
from conftest import rel_error


def _params(rng, V, H, scale=1.0):
    """An LSTM language model with a different draw for every gate and nonzero biases."""
    params = {}
    for g in ("f", "i", "c", "o"):
        params[f"W_{g}"] = rng.standard_normal((H, H + V)) / np.sqrt(H + V)
        params[f"b_{g}"] = 0.3 * rng.standard_normal(H)
    params["W_y"] = scale * rng.standard_normal((V, H))
    params["b_y"] = 0.3 * rng.standard_normal(V)
    return params


def _masked(rng, T, N):
    mask = rng.random((T, N)) < 0.6
    mask[0, 0], mask[-1, -1] = True, False
    return mask


# -- vocabulary -------------------------------------------------------------------------------

def test_vocabulary_is_the_newline_and_printable_ascii():
    assert lm.V == 96 and lm.VOCAB[0] == "\n" and lm.VOCAB[1] == " " and lm.VOCAB[-1] == "~"
    text = "def f(x):\n    return {'a': [1, 2]}  # ~`|\\"
    assert lm.decode(lm.encode(text)) == text
    assert [lm.VOCAB[k] for k in lm.encode("az")] == ["a", "z"]
    x = lm.one_hot(np.array([[3, 5], [0, 95]]))
    assert x.shape == (2, 2, 96) and x.sum() == 4 and x[0, 1, 5] == 1 and x[1, 1, 95] == 1


def test_encode_names_the_characters_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"2 character\(s\) outside the vocabulary: '\\t', 'é'"):
        lm.encode("caf\té")
    with pytest.raises(ValueError, match="must be a str"):
        lm.encode(b"bytes")


# -- the loss over every step -------------------------------------------------------------------

def test_temporal_softmax_loss_matches_an_independent_sum_and_central_differences():
    rng = np.random.default_rng(0)
    T, N, V = 4, 3, 5
    scores, y, mask = rng.standard_normal((T, N, V)), rng.integers(0, V, (T, N)), _masked(rng, T, N)
    loss, dscores = lm.temporal_softmax_loss(scores, y, mask)
    # independently: chapter 06's batch cross-entropy on the unmasked steps, mean -> sum, / N
    rows = scores[mask]
    expected = training.softmax_cross_entropy(rows, y[mask])[0] * len(rows) / N
    assert loss == pytest.approx(expected, rel=1e-12)
    numeric = numerical_gradient(lambda: lm.temporal_softmax_loss(scores, y, mask)[0], scores)
    assert rel_error(dscores, numeric) < 1e-8
    assert np.all(dscores[~mask] == 0)


def test_temporal_softmax_loss_matches_torch_cross_entropy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    T, N, V = 5, 4, 7
    scores, y, mask = rng.standard_normal((T, N, V)) * 3, rng.integers(0, V, (T, N)), _masked(rng, T, N)
    s = torch.tensor(scores, requires_grad=True)
    per_step = torch.nn.functional.cross_entropy(s.reshape(-1, V), torch.tensor(y.reshape(-1)), reduction="none")
    expected = (per_step * torch.tensor(mask.reshape(-1), dtype=s.dtype)).sum() / N
    expected.backward()
    loss, dscores = lm.temporal_softmax_loss(scores, y, mask)
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    assert rel_error(dscores, s.grad.numpy()) < 1e-12


def test_temporal_softmax_loss_is_stable_for_large_scores():
    rng = np.random.default_rng(2)
    scores, y = rng.standard_normal((3, 2, 6)), rng.integers(0, 6, (3, 2))
    mask = np.ones((3, 2), dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow or divide warning fails the test
        big_loss, big_grad = lm.temporal_softmax_loss(5000 * scores, y, mask)
        shifted_loss, shifted_grad = lm.temporal_softmax_loss(scores + 1e4, y, mask)
    assert np.isfinite(big_loss) and np.isfinite(big_grad).all()
    plain_loss, plain_grad = lm.temporal_softmax_loss(scores, y, mask)
    assert shifted_loss == pytest.approx(plain_loss, rel=1e-9)  # adding a constant to every score changes nothing
    assert np.allclose(shifted_grad, plain_grad, atol=1e-9)


def test_temporal_softmax_loss_rejects_bad_input():
    scores = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="y must hold integer targets of shape"):
        lm.temporal_softmax_loss(scores, np.zeros((2, 3)), np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="mask must be a bool array"):
        lm.temporal_softmax_loss(scores, np.zeros((2, 3), int), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"scores has shape \(3, 4\)"):
        lm.temporal_softmax_loss(np.zeros((3, 4)), np.zeros((2, 3), int), np.ones((2, 3), bool))


def test_bits_per_character_is_the_mean_of_minus_log2_p_over_predicted_characters():
    rng = np.random.default_rng(3)
    T, N, V = 6, 4, 9
    scores, y, mask = rng.standard_normal((T, N, V)), rng.integers(0, V, (T, N)), _masked(rng, T, N)
    loss, _ = lm.temporal_softmax_loss(scores, y, mask)
    p = np.exp(scores) / np.exp(scores).sum(axis=2, keepdims=True)
    p_target = np.take_along_axis(p, y[..., None], 2)[..., 0]
    assert lm.bits_per_character(loss, mask) == pytest.approx(np.mean(-np.log2(p_target[mask])), rel=1e-12)
    uniform, _ = lm.temporal_softmax_loss(np.zeros((T, N, 96)), y, mask)
    assert lm.bits_per_character(uniform, mask) == pytest.approx(np.log2(96))


def test_output_layer_backward_matches_central_differences():
    rng = np.random.default_rng(4)
    h, W_y, b_y = rng.standard_normal((3, 2, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    upstream = rng.standard_normal((3, 2, 5))
    scores, cache = lm.output_layer_forward(h, W_y, b_y)
    dh, dW_y, db_y = lm.output_layer_backward(upstream, cache)
    for array, grad in ((h, dh), (W_y, dW_y), (b_y, db_y)):
        numeric = numerical_gradient(lambda: np.sum(lm.output_layer_forward(h, W_y, b_y)[0] * upstream), array)
        assert rel_error(grad, numeric) < 1e-9


# -- truncated backpropagation through time ------------------------------------------------------

def _window(rng, T, N, V):
    ids = rng.integers(0, V, (T + 1, N))
    return lm.one_hot(ids[:-1], V), ids[1:]


def test_tbptt_step_gradients_match_central_differences_with_the_start_states_held_fixed():
    rng = np.random.default_rng(5)
    T, N, V, H = 4, 2, 5, 3
    params = _params(rng, V, H)
    x, y = _window(rng, T, N, V)
    h0, c0 = rng.uniform(-0.8, 0.8, (N, H)), rng.uniform(-1, 1, (N, H))
    loss, grads, h_T, c_T = lm.tbptt_step(params, x, y, h0, c0)
    assert set(grads) == set(params)
    for key in params:
        numeric = numerical_gradient(lambda: lm.tbptt_step(params, x, y, h0, c0)[0], params[key])
        assert rel_error(grads[key], numeric) < 1e-7, key
    h, c, _ = lstm_forward(x, h0, c0, {k: v for k, v in params.items() if k not in lm.OUTPUT_KEYS})
    assert np.array_equal(h_T, h[-1]) and np.array_equal(c_T, c[-1])


def test_tbptt_gradient_stops_at_the_window_start():
    """Window 2 starts from the states window 1 ended with. Its truncated gradient equals the central
    differences with those states held fixed, and differs from the full gradient through window 1."""
    rng = np.random.default_rng(6)
    T, N, V, H = 3, 2, 4, 3
    params = _params(rng, V, H)
    x1, y1 = _window(rng, T, N, V)
    x2, y2 = _window(rng, T, N, V)
    zeros = np.zeros((N, H))
    _, _, h1, c1 = lm.tbptt_step(params, x1, y1, zeros, zeros)
    _, grads, _, _ = lm.tbptt_step(params, x2, y2, h1, c1)

    def through_both():  # window 2's loss when its start states also depend on the parameters
        _, _, h, c = lm.tbptt_step(params, x1, y1, zeros, zeros)
        return lm.tbptt_step(params, x2, y2, h, c)[0]

    full = numerical_gradient(through_both, params["W_f"])
    fixed = numerical_gradient(lambda: lm.tbptt_step(params, x2, y2, h1, c1)[0], params["W_f"])
    assert rel_error(grads["W_f"], fixed) < 1e-7
    assert rel_error(grads["W_f"], full) > 1e-3  # the part through window 1 is left out


def test_carrying_the_states_reads_two_windows_as_one_sequence():
    rng = np.random.default_rng(7)
    T, N, V, H = 3, 2, 5, 4
    params = _params(rng, V, H)
    ids = rng.integers(0, V, (2 * T + 1, N))
    zeros = np.zeros((N, H))
    loss1, _, h, c = lm.tbptt_step(params, lm.one_hot(ids[:T], V), ids[1:T + 1], zeros, zeros)
    loss2, _, h_end, c_end = lm.tbptt_step(params, lm.one_hot(ids[T:2 * T], V), ids[T + 1:], h, c)
    whole, _, h_whole, c_whole = lm.tbptt_step(params, lm.one_hot(ids[:-1], V), ids[1:], zeros, zeros)
    assert loss1 + loss2 == pytest.approx(whole, rel=1e-12)
    assert np.allclose(h_end, h_whole) and np.allclose(c_end, c_whole)


def test_tbptt_step_matches_torch_with_detached_start_states():
    torch = pytest.importorskip("torch")
    from lstm_helpers.torch_interop import lstm_params_to_torch

    rng = np.random.default_rng(8)
    T, N, V, H = 5, 3, 6, 4
    params = _params(rng, V, H)
    x, y = _window(rng, T, N, V)
    h0, c0 = rng.uniform(-0.5, 0.5, (N, H)), rng.uniform(-0.5, 0.5, (N, H))
    module = lstm_params_to_torch({k: v for k, v in params.items() if k not in lm.OUTPUT_KEYS}, dtype=torch.float64)
    W_y = torch.tensor(params["W_y"], requires_grad=True)
    b_y = torch.tensor(params["b_y"], requires_grad=True)
    h, _ = module(torch.tensor(x), (torch.tensor(h0)[None], torch.tensor(c0)[None]))
    scores = h @ W_y.T + b_y
    loss = torch.nn.functional.cross_entropy(scores.reshape(-1, V), torch.tensor(y.reshape(-1)), reduction="sum") / N
    loss.backward()
    ours, grads, _, _ = lm.tbptt_step(params, x, y, h0, c0)
    assert ours == pytest.approx(loss.item(), rel=1e-12)
    assert rel_error(grads["W_y"], W_y.grad.numpy()) < 1e-10
    assert rel_error(grads["b_y"], b_y.grad.numpy()) < 1e-10
    # torch orders the gate blocks i, f, g, o; ours W_i, W_f, W_c, W_o over [h, x]
    weight_hh, weight_ih = module.weight_hh_l0.grad.numpy(), module.weight_ih_l0.grad.numpy()
    for block, key in enumerate(("W_i", "W_f", "W_c", "W_o")):
        rows = slice(block * H, (block + 1) * H)
        theirs = np.concatenate([weight_hh[rows], weight_ih[rows]], axis=1)
        assert rel_error(grads[key], theirs) < 1e-10, key


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
def test_training_window_step_matches_central_differences(model):
    rng = np.random.default_rng(9)
    params = char_lm.init_params(model, rng, H=3, dtype=np.float64)
    window = rng.integers(0, lm.V, (4, 2))
    state = tuple(rng.uniform(-0.5, 0.5, (2, 3)) for _ in range(char_lm.CELLS[model].state_size))
    loss, grads, _ = char_lm.window_step(model, params, window, state)
    for key in ("W_y", "b_y", "b_f" if model == "lstm" else "b_h"):
        numeric = numerical_gradient(lambda: char_lm.window_step(model, params, window, state)[0], params[key])
        assert rel_error(grads[key], numeric) < 1e-7, key


def test_training_step_on_the_fast_lstm_equals_the_readable_tbptt_step():
    rng = np.random.default_rng(10)
    params = char_lm.init_params("lstm", rng, H=6, dtype=np.float64)
    window = rng.integers(0, lm.V, (9, 3))
    h0, c0 = rng.uniform(-0.5, 0.5, (3, 6)), rng.uniform(-0.5, 0.5, (3, 6))
    fast_loss, fast_grads, (h_T, c_T) = char_lm.window_step("lstm", params, window, (h0, c0))
    loss, grads, h_ref, c_ref = lm.tbptt_step(params, lm.one_hot(window[:-1]), window[1:], h0, c0)
    assert fast_loss == pytest.approx(loss, rel=1e-12)
    assert all(rel_error(fast_grads[k], grads[k]) < 1e-12 for k in params)
    assert np.allclose(h_T, h_ref) and np.allclose(c_T, c_ref)


# -- sampling ---------------------------------------------------------------------------------------

def _tiny_model():
    """A fixed tiny model (H = 2) whose first written character after "ab" has a spread-out distribution."""
    rng = np.random.default_rng(11)
    params = _params(rng, lm.V, 2, scale=0.1)
    params["b_y"] = np.full(lm.V, -30.0)
    favourites = lm.encode("xyz()")
    params["b_y"][favourites] = [1.0, 0.5, 0.0, -0.5, 1.2]
    params["W_y"][favourites] = rng.standard_normal((5, 2))
    return params


def _first_scores(params, prime):
    """The scores of the first written character, from the readable chapter 04 forward pass."""
    lstm_params = {k: v for k, v in params.items() if k not in lm.OUTPUT_KEYS}
    zeros = np.zeros((1, 2))
    h, _, _ = lstm_forward(lm.one_hot(lm.encode(prime)[:, None]), zeros, zeros, lstm_params)
    return h[-1, 0] @ params["W_y"].T + params["b_y"]


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_sample_frequencies_match_the_tempered_softmax(temperature):
    params, draws = _tiny_model(), 3000
    p = lm.softmax(_first_scores(params, "ab") / temperature)
    rng = np.random.default_rng(12)
    counts = np.bincount([lm.encode(lm.sample(params, "ab", 1, temperature, rng))[0] for _ in range(draws)],
                         minlength=lm.V)
    likely = p > 1e-3
    assert counts[~likely].sum() <= 2  # characters the model all but rules out
    expected = draws * p[likely]
    chi2 = float(np.sum((counts[likely] - expected) ** 2 / expected))
    assert chi2 < 20.5, (chi2, counts[likely], expected.round())  # chi-square, 4 degrees of freedom: p ≈ 0.0004


def test_sample_at_temperature_zero_is_greedy_and_draws_nothing():
    params = _tiny_model()
    rng = np.random.default_rng(13)
    before = rng.bit_generator.state
    text = lm.sample(params, "ab", 5, 0, rng)
    assert rng.bit_generator.state == before
    assert text[0] == lm.VOCAB[int(np.argmax(_first_scores(params, "ab")))]
    assert lm.sample(params, "ab", 5, 0.0, np.random.default_rng(0)) == text


def test_sample_uses_only_the_generator_it_is_given():
    params = _tiny_model()
    global_state = np.random.get_state()[1].copy()
    first = lm.sample(params, "ab", 30, 1.0, np.random.default_rng(5))
    again = lm.sample(params, "ab", 30, 1.0, np.random.default_rng(5))
    other = lm.sample(params, "ab", 30, 1.0, np.random.default_rng(6))
    assert first == again and first != other and len(first) == 30
    assert np.array_equal(np.random.get_state()[1], global_state)  # NumPy's global generator untouched


def test_sample_rejects_bad_input_with_clear_errors():
    params, rng = _tiny_model(), np.random.default_rng(0)
    with pytest.raises(ValueError, match="outside the vocabulary: 'é', '€'"):
        lm.sample(params, "é€", 5, 1.0, rng)
    with pytest.raises(ValueError, match="temperature must be a number >= 0"):
        lm.sample(params, "ab", 5, -0.5, rng)
    with pytest.raises(ValueError, match="prime must be a non-empty str"):
        lm.sample(params, "", 5, 1.0, rng)
    with pytest.raises(ValueError, match="rng must be a numpy Generator"):
        lm.sample(params, "ab", 5, 1.0, 42)


@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.0, 1.8])
def test_fast_sample_makes_the_same_draws_as_sample(temperature):
    params = char_lm.init_params("lstm", np.random.default_rng(17), H=16, dtype=np.float64)
    params["W_y"] *= 4  # peaked distributions, so that a slip would show
    for seed in range(3):
        text, p_chosen, p_first = char_lm.fast_sample(params, "def f(", 60, temperature, np.random.default_rng(seed))
        assert text == lm.sample(params, "def f(", 60, temperature, np.random.default_rng(seed))
        probs = char_lm.next_char_distributions(params, "def f(" + text)
        assert np.allclose(p_first, probs[5])
        assert np.allclose(p_chosen, probs[5 + np.arange(60), lm.encode(text)])


# -- the corpus -------------------------------------------------------------------------------------

def test_corpus_reads_the_fixed_files_and_splits_them_by_file():
    text = corpus.load_corpus()
    assert not set(corpus.TRAIN_FILES) & set(corpus.VALID_FILES)
    assert len(text.train_files) >= corpus.MIN_TRAIN_FILES and len(text.valid_files) >= corpus.MIN_VALID_FILES
    assert len(text.train_text) > 1_000_000 and len(text.valid_text) > 100_000
    assert set(text.train_text + text.valid_text) <= set(lm.VOCAB)
    start, end = text.valid_spans["textwrap.py"]
    assert text.valid_text[start:end] == corpus.clean((corpus.stdlib_root() / "textwrap.py").read_text())


def test_a_missing_module_is_skipped_with_a_note_and_too_few_files_is_an_error(tmp_path):
    root = corpus.stdlib_root()
    for rel in corpus.TRAIN_FILES[:25] + corpus.VALID_FILES[:4]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((root / rel).read_text())
    text = corpus.load_corpus(tmp_path)
    assert len(text.train_files) == 25 and len(text.valid_files) == 4
    assert text.skipped["typing.py"] == "missing"
    assert "skipped" in text.summary() and "typing.py (missing)" in text.summary()


def test_too_few_corpus_files_is_a_clear_error(tmp_path):
    root = corpus.stdlib_root()
    for rel in corpus.TRAIN_FILES[:5] + corpus.VALID_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((root / rel).read_text())
    with pytest.raises(corpus.CorpusError, match=r"only 5 of the training files of the corpus were found in .*"
                                                 r"at least 20 are needed"):
        corpus.load_corpus(tmp_path)


def test_clean_maps_tabs_and_unknown_characters():
    assert corpus.clean("a\tb\r\nc é") == "a    b\nc ?"


def test_code_structure_knows_strings_brackets_and_indentation():
    text = "def f(a, b):\n    return [a, 'x)', (b)]\n"
    s = corpus.code_structure(text)
    quote = text.index("'")
    assert s.in_string[quote] and s.in_string[quote + 2] and not s.in_string[quote + 3]  # the closing quote
    assert not s.in_string[quote - 1]
    assert s.depth[text.index("(")] == 1 and s.depth[text.index(")")] == 0
    assert s.depth[text.index("(b")] == 2  # inside [ and (; the ")" inside the string does not count
    assert s.indent[text.index("return")] == 4 and s.indent[0] == 0
    pairs = {(text[a], text[b], b - a) for a, b in s.pairs}
    assert pairs == {("(", ")", 5), ("[", "]", 13), ("'", "'", 3), ("(", ")", 2)}


# -- the n-gram baseline --------------------------------------------------------------------------

def test_ngram_probabilities_sum_to_one_and_follow_the_counts():
    ids = lm.encode("abcabcabd" * 3)
    model = ngram.fit(ids, order=3, k=1.0)
    context = lm.encode("ab")
    texts = np.stack([np.concatenate([context, [v]]) for v in range(lm.V)])
    p = np.array([model.probability(t, [2])[0] for t in texts])
    assert p.sum() == pytest.approx(1.0)
    # "ab" is followed by "c" five times and by "d" three times (plus smoothing)
    assert p[lm.encode("c")[0]] > p[lm.encode("d")[0]] > p[lm.encode("z")[0]] > 0
    uniform = ngram.fit(ids, order=1)
    assert uniform.probability(ids, [1, 2])[0] == pytest.approx(1 / lm.V)


def test_ngram_sees_nothing_beyond_its_context():
    ids = lm.encode("(abc)[abc]" * 50)
    closer = lm.encode(")")[0]
    for order, visible in ((5, True), (4, False)):  # the opener is 4 characters back from the closer
        model = ngram.fit(ids, order=order, k=1.0)
        p_round = model.probability(np.append(lm.encode("(abc"), closer), [4])[0]
        p_square = model.probability(np.append(lm.encode("[abc"), closer), [4])[0]
        if visible:
            assert p_round > 0.9 and p_square < 0.1
        else:
            assert p_round == pytest.approx(p_square)


# -- training, reading text, finding cells ----------------------------------------------------------

def test_windows_continue_the_streams():
    ids = np.arange(1000) % lm.V
    gen = char_lm.windows(ids, batch_size=4, seq_len=10)
    first, start = next(gen)
    second, _ = next(gen)
    assert start and first.shape == (11, 4)
    assert np.array_equal(first[-1], second[0])  # the last target is the next window's first input
    assert np.array_equal(char_lm.streams(ids, 4)[:, 1], ids[250:500])


def test_training_obeys_the_time_cap(monkeypatch):
    monkeypatch.setenv(runner.TIME_CAP_VARIABLE, "1")
    ids = lm.encode("def f(x):\n    return x\n" * 200)
    run = char_lm.train("lstm", ids, ids, rng=np.random.default_rng(0), hidden_size=8, steps=100_000,
                        time_budget=60, seq_len=8, batch_size=4, eval_every=50, n_eval=200, progress=False)
    assert run.stopped == "time" and run.seconds < 5 and run.steps > 1
    assert run.eval_steps[-1] == run.steps  # a last validation at the stop
    assert run.loss[-1] < run.loss[0]


def test_correlations_and_the_cell_search_find_a_planted_cell():
    rng = np.random.default_rng(14)
    text = "x = ('ab', [1, 2])\nif x:\n    y = \"q\"\n" * 30
    s = corpus.code_structure(text)
    cells = rng.standard_normal((len(text), 6))
    cells[:, 4] = s.in_string + 0.1 * rng.standard_normal(len(text))
    cells[:, 2] = -s.depth + 0.1 * rng.standard_normal(len(text))
    found = char_lm.find_tracking_cells(cells, s)
    assert found["in_string"][0][0] == 4 and found["in_string"][0][1] > 0.9
    assert found["depth"][0][0] == 2 and found["depth"][0][1] < -0.9
    r = char_lm.correlations(cells, s.indent)
    assert np.allclose(r, [np.corrcoef(cells[:, k], s.indent)[0, 1] for k in range(6)])


def test_next_char_distributions_and_run_text_agree_with_the_readable_model():
    rng = np.random.default_rng(15)
    params = char_lm.init_params("lstm", rng, H=5, dtype=np.float64)
    text = "def f(x):\n    return x"
    probs = char_lm.next_char_distributions(params, text)
    lstm_params = {k: v for k, v in params.items() if k not in lm.OUTPUT_KEYS}
    zeros = np.zeros((1, 5))
    h, c, _ = lstm_forward(lm.one_hot(lm.encode(text)[:, None]), zeros, zeros, lstm_params)
    expected = lm.softmax(h[:, 0] @ params["W_y"].T + params["b_y"])
    assert np.allclose(probs, expected)
    read = char_lm.run_text("lstm", params, lm.encode(text), n_streams=1, seq_len=7, keep_cells=True)
    ids = lm.encode(text)
    assert np.allclose(read["p_true"][1:], expected[np.arange(len(text) - 1), ids[1:]])
    assert np.allclose(read["cells"], c[:, 0])
    gates = char_lm.lstm_gates(params, text)
    assert gates["f"].shape == (len(text), 5) and np.allclose(gates["c"], c[:, 0])


# -- the shipped model and results --------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    return char_lm.load_results(), char_lm.load_weights()


def test_shipped_weights_are_small_and_the_results_complete(shipped):
    results, params = shipped
    assert char_lm.WEIGHTS_FILE.stat().st_size < 600_000
    assert set(results["models"]) == {"rnn", "gru", "lstm"}
    counts = [results["models"][m]["parameters"] for m in ("rnn", "gru", "lstm")]
    assert max(counts) / min(counts) < 1.01  # the same number of parameters, within 1%
    assert all(char_lm.param_count(m, results["models"][m]["hidden_size"]) == results["models"][m]["parameters"]
               for m in results["models"])
    assert params["W_y"].shape == (lm.V, results["models"]["lstm"]["hidden_size"])
    assert set(results["models"]["lstm"]["samples"]) == {str(t) for t in char_lm.TEMPERATURES}


def test_a_short_prefix_of_the_shipped_training_reproduces_its_loss_curve(shipped):
    results, _ = shipped
    text = corpus.load_corpus()
    if text.fingerprint != results["corpus_fingerprint"]:
        pytest.skip(f"this Python's standard library differs from the one the results were made from "
                    f"(Python {results['python_version']}), so the curves differ")
    settings = results["settings"]
    steps = 15
    run = char_lm.train("lstm", text.train_ids, text.valid_ids, rng=np.random.default_rng(settings["seed"]),
                        steps=steps, seq_len=settings["seq_len"], batch_size=settings["batch_size"],
                        lr=settings["lr"], max_norm=settings["max_norm"], eval_every=1000, n_eval=100,
                        progress=False)
    shipped_curve = np.array(results["models"]["lstm"]["train_bpc_first"][:steps])
    assert np.allclose(run.loss, shipped_curve, rtol=1e-3), (run.loss, shipped_curve)
    record = results["models"]["lstm"]
    assert len(record["train_bpc_mean"]) == record["steps"] // 50
    assert np.mean(record["train_bpc_first"][:50]) == pytest.approx(record["train_bpc_mean"][0], rel=1e-4)


def test_shipped_lstm_scores_the_reported_validation_bits_per_character(shipped):
    results, params = shipped
    text = corpus.load_corpus()
    bpc = char_lm.evaluate("lstm", params, text.valid_ids)
    tolerance = 1e-3 if text.fingerprint == results["corpus_fingerprint"] else 0.1
    assert bpc == pytest.approx(results["models"]["lstm"]["bpc"], abs=tolerance)


def test_the_shipped_results_say_what_the_chapter_says_about_them(shipped):
    """The notebook's reading of the comparison, checked against the shipped numbers."""
    results, _ = shipped
    bpc = {name: record["bpc"] for name, record in results["models"].items()}
    assert bpc["gru"] < bpc["lstm"] < bpc["rnn"]  # gated cells ahead of the tanh RNN
    assert abs(bpc["lstm"] - results["ngram"]["bpc"]) < 0.05  # overall, the LSTM only draws level with counting
    edges = results["ngram"]["closer"]["edges"]
    lstm, counted = results["models"]["lstm"]["closer"]["mean"], results["ngram"]["closer"]["mean"]
    beyond_context = [k for k, lo in enumerate(edges[:-1]) if lo >= 5 and edges[k + 1] <= 65]  # 5 to 64 back
    assert all(lstm[k] > 1.5 * counted[k] for k in beyond_context)  # memory where the n-gram has none
    far = edges.index(65)  # 65-128 characters back: beyond one training window
    assert lstm[far] < 0.6 * lstm[far - 1]


# -- plots and widgets -------------------------------------------------------------------------------

def test_language_plots_draw(shipped):
    from lstm_helpers.viz.plots import language as plots

    results, params = shipped
    run = char_lm.LMRun("lstm", 3, "steps", 1.0, {}, np.array([6.0, 5.0, 4.5]), np.array([3]), np.array([4.4]))
    assert isinstance(plots.training_curve(run, results, ngram_bpc=2.1), Figure)
    assert isinstance(plots.closer_probability(results), Figure)
    text = "x = 'ab'"
    gates = char_lm.lstm_gates(params, text)
    assert isinstance(plots.gate_at_quotes(text, gates["c"], gates["f"], 3, [4, 7]), Figure)
    colored = plots.ColoredText("a<b", [-1.0, 0.0, 1.0])
    assert colored._repr_html_().count("<span") == 3 and "&lt;" in colored.html
    assert "n-gram" in plots.bpc_table(results)


def test_temperature_app_redraws_and_reports_a_bad_prime(shipped):
    from lstm_helpers.viz.widgets import TemperatureApp

    _, params = shipped
    app = TemperatureApp(params=params, n=50)
    before = app.image.value
    app.controls["temperature"].value = 1.5
    assert app.image.value != before and len(app.text) == 50 and not app.problems
    assert app.p_next.sum() == pytest.approx(1.0) and app.p_chosen.shape == (50,)
    app.controls["temperature"].value = 0.0
    assert app.p_next.max() == 1.0  # greedy: all the probability on one character
    app.controls["prime"].value = "naïve"
    assert app.problems and "outside the vocabulary" in app.status.value
    # with a learner's sample (here a copy of the reference): the same text as the fast sampler writes
    from conftest import copy_of

    own = TemperatureApp(params=params, n=50, sample=copy_of(lm.sample))
    assert own.sample_fn is not None and "your own sample" in own.note.value
    own.controls["draw"].value, app.controls["prime"].value = 4, "def "
    app.controls["temperature"].value, app.controls["draw"].value = 0.8, 4
    assert own.text == app.text and np.allclose(own.p_chosen, app.p_chosen, atol=1e-6)


def test_cell_viewer_shows_the_chosen_cell():
    from lstm_helpers.viz.widgets import CellViewer

    text = "a = ('x', [1])\n" * 20
    cells = np.random.default_rng(16).standard_normal((len(text), 4))
    viewer = CellViewer(text, cells, corpus.code_structure(text), cell=1, width=100)
    viewer.controls["cell"].value = 3
    assert np.allclose(viewer.activation, np.tanh(cells[:100, 3]))
    assert "cell 3" in viewer.readout.value
    with pytest.raises(ValueError, match="cells must be"):
        CellViewer(text, cells[:10], corpus.code_structure(text))


def test_results_file_is_plain_json():
    json.loads(char_lm.RESULTS_FILE.read_text())
