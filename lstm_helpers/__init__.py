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


def require_version(expected: str) -> str:
    """Check that the installed helpers are the version a notebook was written for.

    Every chapter calls this in its first code cell. Returns the version on
    success and raises ``RuntimeError`` with the fix on a mismatch.
    """
    if expected != __version__:
        raise RuntimeError(
            f"This notebook was written for lstm_helpers {expected}, but version "
            f"{__version__} is installed (from {__file__}).\n"
            "Fix: from the course folder run  python -m pip install -e .  "
            "and then restart the kernel (Kernel > Restart Kernel)."
        )
    return __version__
