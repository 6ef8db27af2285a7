"""nbgrader configuration for the LSTM course.

Layout: ``solutions/<chapter>/<chapter>.ipynb`` is the instructor's source
(full solutions, visible and hidden tests); ``notebooks/<chapter>/`` is the
student release that ``lstm-course release`` (or ``nbgrader generate_assignment
--force``) writes. Submissions, autograded copies and feedback go into the
usual nbgrader folders next to this file, all git-ignored.
"""

import os

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

_here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = _here
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# The gradebook lives in a git-ignored folder, never in the repository.
try:
    os.makedirs(os.path.join(_here, ".nbgrader"), exist_ok=True)
except OSError:  # a read-only checkout (grading in a container): lstm-course grade keeps its own copies
    pass
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_here, ".nbgrader", "gradebook.db")

# Only notebooks and the data files they need reach students: nothing else in
# solutions/ (instructor notes, scratch files, caches) is copied.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "*.instructor.*",
    "INSTRUCTOR*",
    ".*",
]

# A student who deletes or edits a graded cell gets the original back.
c.OverwriteCells.add_missing_cells = True

# Every cell gets at most this many seconds when graded; a runaway answer
# (`while True: pass`) is interrupted and the rest of the notebook still runs.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Feedback shows the learner's code, the visible tests and every check's message, but not the
# hidden tests, nor tracebacks that would quote them (nbgrader's default feedback shows both).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "lstm_helpers.classroom.nbgrader_plugins.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Student versions show where to write code.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A class on JupyterHub: `lstm-course hub setup` writes the course id, nbgrader's exchange and the
# gradebook URL into the git-ignored .nbgrader/class_config.py; loaded last, so they apply to every
# nbgrader command run in this course folder (and nowhere else on the machine).
_class_config = os.path.join(_here, ".nbgrader", "class_config.py")
if os.path.isfile(_class_config):
    load_subconfig(_class_config)  # noqa: F821  (provided by traitlets when it loads this file)
