"""``lstm-course similarity``: near-identical answers and near-copies of the reference.

The synthetic class is in ``similarity_fixtures.py``: honest answers written
independently, disguised copies of them, of the solution notebook and of the
package's reference, and blank notebooks.
"""

import contextlib
import csv
import io
import random
import textwrap
from pathlib import Path

import numpy as np
import pytest
from grader_fixtures import ROOT, chapters, make_submission, run_cli, solution_sources, write_notebook
from similarity_fixtures import (HONEST, calibration_figures, chapter_of, class_answers, code_exercises, disguise,
                                 honest_answers, package_reference, release_cell, rename, write_class)

from lstm_helpers.classroom import similarity
from lstm_helpers.classroom.similarity import (DEFAULT_MIN_TOKENS, DEFAULT_THRESHOLD, REFERENCE, answer_similarity,
                                               normalise_cell, reference_sources, similarity_report)
from lstm_helpers.exercises import EXERCISES, Exercise, check, returns
from lstm_helpers.exercises._core import no_inputs

RNN_GIVEN = release_cell("02_rnn", "rnn_backward")


def _own(source, given=""):
    return normalise_cell(source, given=given)


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------

ORIGINAL = '''
def total_norm(grads, max_norm):
    """Global norm of a dict of arrays."""
    squares = 0.0
    for g in grads.values():
        squares = squares + np.sum(g ** 2)
    norm = np.sqrt(squares)
    scale = max_norm / norm
    return norm, scale
'''

DISGUISED = '''
def total_norm(gradient_dict, limit):
    # my own work!
    acc = 0.0  # running sum


    for arr in gradient_dict.values() :
        acc = acc+np.sum( arr**2 )
    n = np.sqrt(acc); factor = limit/n   # scale
    unused = np.zeros(3)
    return (n, factor)
'''

def test_comments_docstrings_names_spacing_and_dead_stores_do_not_count():
    assert _own(ORIGINAL).lines == _own(DISGUISED).lines
    assert answer_similarity(ORIGINAL, DISGUISED) == 1.0


def test_independent_statements_in_another_order_are_the_same_answer():
    swapped = '''
def f(x, W, b):
    y = x @ W.T
    z = np.tanh(b)
    s = y + z
    return s
'''
    other_order = '''
def f(x, W, b):
    z = np.tanh(b)
    y = x @ W.T
    s = y + z
    return s
'''
    assert _own(swapped).lines == _own(other_order).lines
    # a statement that reads what another writes does not move past it
    dependent = "def f(x):\n    y = x + 1\n    y = y * 2\n    return y\n"
    flipped = "def f(x):\n    y = x * 2\n    y = y + 1\n    return y\n"
    assert answer_similarity(dependent, flipped) < 1.0
    # appending to a list writes it: the appends keep their order around the read
    mutating = "def f(a):\n    out = []\n    out.append(a)\n    n = len(out)\n    out.append(n)\n    return out\n"
    assert [text for _, text in _own(mutating).lines][2:5] == ["_.append(_)", "_ = len(_)", "_.append(_)"]


def test_statements_of_an_except_branch_are_reordered_in_their_own_block():
    one = "def f(a):\n    try:\n        x = a[0]\n    except IndexError:\n        y = 1\n        z = 2\n        return y + z\n    return x\n"
    other = one.replace("        y = 1\n        z = 2\n", "        z = 2\n        y = 1\n")
    assert _own(one).lines == _own(other).lines
    assert [text for _, text in _own(one).lines][:3] == ["def _(_):", "try:", "_ = _[0]"]


def test_a_different_computation_is_not_the_same():
    other = ORIGINAL.replace("np.sum(g ** 2)", "np.max(np.abs(g))").replace("np.sqrt(squares)", "squares")
    assert answer_similarity(ORIGINAL, other) < DEFAULT_THRESHOLD


def test_ipython_magics_are_python_and_a_cell_magic_body_is_compared():
    assert answer_similarity(ORIGINAL, "%%time\n" + ORIGINAL) == 1.0
    with_line_magic = ORIGINAL.replace("    norm = np.sqrt(squares)\n", "    %time norm = np.sqrt(squares)\n")
    assert _own(with_line_magic).parsed


def test_a_cell_that_does_not_parse_is_compared_as_text():
    broken = "def f(x:\n    y = x + 1  # comment\n\n    return y\n"
    code = _own(broken)
    assert not code.parsed
    assert [text for _, text in code.lines] == ["def f ( x :", "y = x + 1", "return y"]
    assert answer_similarity(broken, broken.replace("# comment", "# other")) == 1.0


def test_the_release_is_subtracted_blank_and_untouched_answers_have_no_code():
    assert _own(RNN_GIVEN, given=RNN_GIVEN).lines == ()
    commented = RNN_GIVEN.replace("# YOUR CODE HERE", "# I will do this later\n    # YOUR CODE HERE")
    assert _own(commented, given=RNN_GIVEN).lines == ()
    solution = solution_sources("02_rnn")["rnn_backward"]
    own = [text for _, text in _own(solution, given=RNN_GIVEN).lines]
    assert "raise NotImplementedError()" not in " ".join(own)
    assert not any(text.startswith("def ") or text.startswith("return") for text in own)
    # given lines whose names the learner changed are still the release's
    renamed = rename(solution, random.Random(0))
    assert "steps =" not in renamed
    assert _own(renamed, given=RNN_GIVEN).lines == _own(solution, given=RNN_GIVEN).lines


def test_every_blank_answer_of_the_course_is_empty_after_subtraction():
    for chapter in chapters():
        for name in solution_sources(chapter):
            given = release_cell(chapter, name)
            assert _own(given, given=given).lines == (), name


# ---------------------------------------------------------------------------
# The reference
# ---------------------------------------------------------------------------

def test_reference_sources_drop_input_checks_and_bring_private_helpers():
    sources = reference_sources(EXERCISES["rnn_cell_forward"])
    plain = sources["lstm_helpers.rnn.rnn_cell_forward"]
    assert "float_array" not in plain and "check_rnn_params" not in plain and "checked_by" not in plain
    assert "def _check_cell" in sources["lstm_helpers.rnn.rnn_cell_forward (with its input checks)"]  # the decorator's check
    assert "np.tanh" in plain
    counts = reference_sources(EXERCISES["param_counts"])
    with_helpers = counts["lstm_helpers.variants.param_counts + _closed_form_counts"]
    assert "def _closed_form_counts" in with_helpers
    # a public helper (lstm_cell_forward in lstm_forward) is the course's own function: not inlined
    assert not any("def lstm_cell_forward" in s for s in reference_sources(EXERCISES["lstm_forward"]).values())


def test_a_question_whose_reference_is_a_value_has_no_package_source():
    question = Exercise(name="q", kind="value", make_inputs=no_inputs, reference=lambda: 0.5,
                        outputs=returns("fraction"))
    assert reference_sources(question) == {}


# ---------------------------------------------------------------------------
# The threshold, on the synthetic class
# ---------------------------------------------------------------------------

def _namespace():
    import lstm_helpers.feedforward as ff
    import lstm_helpers.gradients as gr
    import lstm_helpers.lstm as lstm
    import lstm_helpers.rnn as rnn
    import lstm_helpers.variants as var

    ns = {"np": np}
    for module in (ff, rnn, lstm, var, gr):
        ns.update({k: v for k, v in vars(module).items() if not k.startswith("_")})
    from lstm_helpers.experiment.fast_lstm import lstm_backward, lstm_forward

    from lstm_helpers.exercises.lstm import lstm_gates  # chapter 04's cell calls the learner's own gates

    ns.update(lstm_forward=lstm_forward, lstm_backward=lstm_backward, lstm_gates=lstm_gates)
    return ns


@pytest.mark.parametrize("name", sorted(HONEST))
def test_the_honest_answers_and_their_disguised_copies_are_correct(name):
    """The synthetic class is real code: every honest answer, and every disguised copy, passes its check."""
    chapter = chapter_of(name)
    cells = honest_answers(chapter)[name] + [solution_sources(chapter)[name]]
    for index, cell in enumerate(cells):
        for source in (cell, disguise(cell, seed=index)):
            namespace = _namespace()
            exec(source, namespace)  # our own fixture code, not a learner's
            with contextlib.redirect_stdout(io.StringIO()):
                check(name, namespace[name])
                check(name, namespace[name], rng=np.random.default_rng(7), hidden=True)


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_pairs_stay_below_the_threshold_and_disguised_copies_above(name):
    pairs, against_reference, copies = calibration_figures(name, copies_per_answer=3)
    assert max(pairs) < DEFAULT_THRESHOLD, f"two honest answers to {name} look copied: {max(pairs):.2f}"
    assert max(against_reference) < DEFAULT_THRESHOLD
    assert min(copies) >= DEFAULT_THRESHOLD, f"a disguised copy of {name} slips through: {min(copies):.2f}"


def test_the_token_floor_leaves_out_one_line_answers_only():
    """The code answers below DEFAULT_MIN_TOKENS are the one-liners every honest learner writes alike.

    The questions (``kind="value"``: a number or a word, worked out on paper) are short by nature.
    """
    short = {}
    for chapter in chapters():
        for name, source in solution_sources(chapter).items():
            size = _own(source, given=release_cell(chapter, name)).size()
            if size < DEFAULT_MIN_TOKENS and EXERCISES[name].kind != "value":
                short[name] = size
    assert set(short) == {"sigmoid", "relu", "dense_forward"}, short
    for chapter in chapters():
        for name, cells in honest_answers(chapter).items():
            for cell in cells:
                assert _own(cell, given=release_cell(chapter, name)).size() >= DEFAULT_MIN_TOKENS, name


# ---------------------------------------------------------------------------
# A class, end to end
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic_class(tmp_path_factory):
    return write_class(tmp_path_factory.mktemp("class"), chapters())


def test_report_on_the_synthetic_class(synthetic_class, tmp_path):
    out = tmp_path / "similarity.csv"
    result = run_cli("similarity", synthetic_class, "--out", out, "--jobs", "1", timeout=300)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows and list(rows[0]) == list(similarity.SimilarityReport.CSV_COLUMNS)
    scores = [float(r["similarity"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(s >= DEFAULT_THRESHOLD for s in scores)
    pairs = {(r["exercise"], r["student_a"], r["student_b"]) for r in rows if r["student_b"] != REFERENCE}
    copies = {(r["exercise"], r["student_a"]) for r in rows if r["student_b"] == REFERENCE}
    long_enough = {name for chapter in chapters() for name in code_exercises(chapter)
                   if _own(package_reference(name), given=release_cell(chapter, name)).size() >= DEFAULT_MIN_TOKENS}
    for name in HONEST:
        assert (name, "copier_1", "honest_1") in pairs and (name, "copier_2", "honest_2") in pairs
        assert (name, "solution_copier") in copies
        assert (name, "package_copier") in copies or name not in long_enough
    # nobody else pairs with an honest student, blank notebooks appear nowhere, honest answers are not copies
    for exercise, a, b in pairs:
        assert {a, b} in ({"copier_1", "honest_1"}, {"copier_2", "honest_2"}, {"solution_copier", "package_copier"}), \
            (exercise, a, b)
    assert not any(student.startswith(("honest", "blank", "copier")) for _, student in copies)
    # every pasted package reference long enough to compare is found
    assert len(long_enough) >= 10, long_enough
    assert {name for name, student in copies if student == "package_copier"} == long_enough
    # the table: one line per row, then the summary
    assert result.stdout.count("package_copier") >= len(long_enough)
    assert "blank (nothing beyond the release)" in result.stdout
    assert f"wrote {out}" in result.stdout


def test_report_reads_the_nbgrader_layout_and_skips_what_it_cannot_read(tmp_path):
    submitted = tmp_path / "submitted"
    answers = class_answers("02_rnn")
    for student in ("honest_1", "copier_1", "blank_1"):
        blank = [n for n in solution_sources("02_rnn") if n not in answers[student]]
        nb = make_submission("02_rnn", answers[student], blank=blank)
        write_notebook(nb, submitted / student / "02_rnn" / "02_rnn.ipynb")
    (submitted / "broken" / "02_rnn").mkdir(parents=True)
    (submitted / "broken" / "02_rnn" / "02_rnn.ipynb").write_text("{not json", encoding="utf-8")
    report = similarity_report(submitted, course_root=ROOT, chapters=["02_rnn"])
    assert report.students == 4
    assert {(m.student_a, m.student_b) for m in report.matches} == {("copier_1", "honest_1")}
    assert {m.exercise for m in report.matches} == set(honest_answers("02_rnn"))
    assert any("broken" in note and "not a readable notebook" in note for note in report.notes)
    assert report.blank["rnn_forward"] == 1


def test_an_exercise_most_of_the_class_wrote_alike_is_summarised_not_listed(tmp_path):
    solution = solution_sources("02_rnn")["rnn_forward"]
    for k in range(similarity.COMMON_MIN_ANSWERS):
        nb = make_submission("02_rnn", {"rnn_forward": disguise(solution, seed=k)},
                             blank=[n for n in solution_sources("02_rnn") if n != "rnn_forward"])
        write_notebook(nb, tmp_path / f"s{k:02d}_02_rnn.ipynb")
    report = similarity_report(tmp_path, course_root=ROOT, chapters=["02_rnn"])
    assert report.matches == []
    assert report.common == {"rnn_forward": pytest.approx(1.0)}
    assert "most of the class wrote these alike" in report.table()


def test_learners_code_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    payload = textwrap.dedent(f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("ran")
        def rnn_forward(x, h0, params):
            pathlib.Path({str(marker)!r}).write_text("ran")
            return x, {{}}
        rnn_forward(1, 2, 3)
        !touch {marker}
        %%bash
        touch {marker}
    """)
    for student in ("a", "b"):
        nb = make_submission("02_rnn", {"rnn_forward": payload})
        write_notebook(nb, tmp_path / "class" / f"{student}_02_rnn.ipynb")
    report = similarity_report(tmp_path / "class", course_root=ROOT, chapters=["02_rnn"])
    assert not marker.exists()
    assert any(m.exercise == "rnn_forward" and m.student_b == "b" for m in report.matches)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="threshold"):
        similarity_report(tmp_path, course_root=ROOT, threshold=1.5)
    with pytest.raises(ValueError, match="unknown chapter"):
        similarity_report(tmp_path, course_root=ROOT, chapters=["99_nothing"])
    assert run_cli("similarity", tmp_path / "missing").returncode == 2
    result = run_cli("similarity", tmp_path, "--threshold", "2")
    assert result.returncode == 2 and "between 0 and 1" in result.stderr


def test_parallel_normalisation_gives_the_same_report(synthetic_class, monkeypatch):
    serial = similarity_report(synthetic_class, course_root=ROOT, processes=1)
    monkeypatch.setattr(similarity, "_PARALLEL_FROM", 1)
    parallel = similarity_report(synthetic_class, course_root=ROOT, processes=2, workers=2)
    assert parallel.matches == serial.matches
    assert Path(synthetic_class).is_dir()


def test_help():
    result = run_cli("similarity", "--help", timeout=60)
    assert result.returncode == 0 and "usage: lstm-course similarity" in result.stdout
    assert "similarity" in run_cli("--help", timeout=60).stdout


def test_the_table_can_show_the_top_rows_only(synthetic_class):
    report = similarity_report(synthetic_class, course_root=ROOT)
    table = report.table(top=3).splitlines()
    assert len(table) > 5 and table[0].startswith("exercise") and set(table[1]) <= {"-", " "}
    assert table[5] == "" and f"(the 3 most similar of {len(report.matches)} rows" in table[7]
    assert [line.split()[0] for line in table[2:5]] == [m.exercise for m in report.matches[:3]]
