"""The instructor's machinery: the command line, the learner's launcher and the grader.

Nothing here runs inside a learner's kernel. One module per concern:

* ``cli`` — the ``lstm-course`` command; ``lab`` — the learner's JupyterLab; ``course`` — the course on disk.
* The grader, in the order a class is graded: ``submissions`` (who handed in what), ``template`` (the
  nbgrader template, test plans, sandbox packages), ``staging`` (read, identify, repair), ``tamper``
  (notes for a reviewer), ``pool`` and ``worker`` (one process per student), ``sandbox`` (bubblewrap,
  control groups), ``nbgrader_plugins`` (the executor nbgrader runs), ``verdicts`` and ``codec`` (test
  cells judged outside the kernel from plain arrays), ``results`` and ``grade`` (the CSV, feedback,
  gradebook), ``report`` (``lstm-course check``).

During ``lstm-course grade`` the learner's notebook runs in a sandbox and every
score is decided here, in the grading process, from plain arrays the kernel returns.
"""

import sys as _sys

# jsonschema (through nbformat) imports rfc3987_syntax, if installed, to check IRI formats that nothing
# here uses; the import builds a grammar that costs about 2 s of CPU in every grading process. Without
# it, jsonschema simply skips that format.
_sys.modules.setdefault("rfc3987_syntax", None)
