"""Reference code, checks, plots and widgets for the LSTM course.

The reference modules (``feedforward``, ``rnn``, ``gradients``, ``lstm``,
``variants``, ...) are plain NumPy and import nothing from Jupyter, so they
work in scripts and tests as well as in notebooks.
"""

__version__ = "0.2.0"


class ReferenceUnavailable(RuntimeError):
    """Raised by a course reference that is left out while its chapter is graded.

    ``lstm-course grade`` runs a learner's notebook with a copy of the package
    in which the references of the chapter being graded are stubs that raise
    this, so an answer cannot call them.
    """

    def __init__(self, name):
        super().__init__(f"{name}, the course's reference, is not available while this chapter is graded: "
                         "the exercise is to write it yourself")


def _version_key(version):
    """``"0.2.0"`` -> ``(0, 2, 0)``; a part that is not a number counts as older than any number."""
    key = []
    for part in str(version).replace("-", ".").split("."):
        key.append((1, int(part)) if part.isdigit() else (0, 0))
    return tuple(key)


def require_version(expected: str) -> str:
    """Check that the installed helpers are the version a notebook was written for.

    Every chapter calls this in its first code cell. Returns the version on
    success and raises ``RuntimeError`` with the fix on a mismatch: helpers
    newer than the notebook point to ``lstm-course update`` (which brings in
    the new notebook and carries the learner's answers over); a notebook newer
    than the helpers points to reinstalling the helpers.
    """
    if expected == __version__:
        return __version__
    found = f"This notebook was written for lstm_helpers {expected}, but version {__version__} is installed"
    if _version_key(__version__) > _version_key(expected):
        raise RuntimeError(
            f"{found}: the course has a newer version of this notebook.\n"
            "Fix: save this notebook, then in a terminal in the course folder run  lstm-course update  "
            "(it brings in the new version and carries your answers over; your current file is kept in "
            "backups/), then reopen the notebook (File > Reload Notebook from Disk)."
        )
    raise RuntimeError(
        f"{found} (from {__file__}), older than this notebook.\n"
        "Fix: restart the kernel (Kernel > Restart Kernel) if you updated the course since it started; "
        "otherwise from the course folder run  python -m pip install -e .  and then restart the kernel."
    )
