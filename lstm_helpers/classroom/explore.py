"""``lstm-course explore``: every slider app of the course on one code-free page, served by Voila.

The page is ``lstm_helpers/viz/lecture/sliders.ipynb``; Voila runs it in a
fresh kernel for each visitor and shows the outputs only, never the code, and
refuses to run code sent from the page. Locally::

    lstm-course explore              # http://127.0.0.1:8866/ (opens a browser)
    lstm-course explore --port 9000 --no-browser

On a class's JupyterHub every user's server starts it on demand at
``/user/<name>/sliders/`` (jupyter-server-proxy; see
:mod:`lstm_helpers.classroom.hub.setup`). There the Voila server listens on
127.0.0.1 behind the user's own server and requires a token that only the
proxy in front of it sends (given in ``LSTM_COURSE_SLIDERS_TOKEN``), so other
users on the machine cannot reach it around the hub.
"""

import argparse
import os
import sys
from importlib import resources

TOKEN_VARIABLE = "LSTM_COURSE_SLIDERS_TOKEN"


def lecture_notebook():
    """Path of the slider lecture notebook shipped in the package."""
    return resources.files("lstm_helpers.viz") / "lecture" / "sliders.ipynb"


def voila_argv(*, port=8866, base_url="/", ip="127.0.0.1", open_browser=False):
    """Voila's command-line arguments for the lecture page."""
    return [
        str(lecture_notebook()),
        f"--port={port}",
        f"--Voila.ip={ip}",
        f"--Voila.base_url={base_url}",
        f"--Voila.open_browser={open_browser}",
        "--Voila.port_retries=0",
        "--VoilaConfiguration.show_tracebacks=False",
        # an abandoned tab's kernel is shut down after 10 minutes without activity
        "--MappingKernelManager.cull_interval=60",
        "--MappingKernelManager.cull_idle_timeout=600",
    ]


def build_parser():
    parser = argparse.ArgumentParser(prog="lstm-course explore", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return parser


def add_arguments(parser):
    parser.add_argument("--port", type=int, default=8866, help="port (default: %(default)s)")
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--base-url", default="/", help="URL prefix, e.g. behind a proxy (default: %(default)s)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")


def run(args):
    """Start Voila on the lecture page in this process; returns when it stops."""
    from voila.app import Voila

    argv = voila_argv(port=args.port, base_url=args.base_url, ip=args.ip, open_browser=not args.no_browser)
    token = os.environ.pop(TOKEN_VARIABLE, None)
    if token:  # passed in the environment, never on the command line, which every user can read
        argv.append("--Voila.token=" + token)
    Voila.launch_instance(argv=argv)
    return 0


def main(argv=None):
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
