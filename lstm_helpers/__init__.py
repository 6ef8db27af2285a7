"""Reference code, checks, plots and widgets for the LSTM course.

The reference modules (``feedforward``, ``rnn``, ``gradients``, ``lstm``,
``variants``, ...) are plain NumPy and import nothing from Jupyter, so they
work in scripts and tests as well as in notebooks.
"""

__version__ = "0.2.0"


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
