"""``lstm-course hub setup|start`` and ``lstm-course explore``."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from .. import course
from .setup import AUTHENTICATORS, ClassSettings, find_proxy, load_settings, write_class


def add_commands(commands):
    hub = commands.add_parser(
        "hub", help="a class on one JupyterHub server: write its configuration, start it",
        description="Write a class folder (JupyterHub configuration, the learners' and the instructor's "
                    "Jupyter configuration, nbgrader's exchange) and start the hub. See the README's "
                    "'Running a class on JupyterHub'.")
    steps = hub.add_subparsers(dest="step", metavar="STEP")
    steps.required = True

    setup = steps.add_parser(
        "setup", help="write the class folder", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write CLASS_DIR (class.json, jupyterhub_config.py, learner/, instructor/, exchange/, "
                    "state/) and COURSE/.nbgrader/class_config.py. Run it as root.",
        epilog="authenticators:\n" + "\n".join(f"  {name:14} {text}" for name, (_, text) in AUTHENTICATORS.items()))
    setup.add_argument("class_dir", metavar="CLASS_DIR", help="folder for the class's configuration, e.g. /srv/lstm-class")
    setup.add_argument("--course", metavar="DIR", default=None,
                       help="the instructor's course folder (default: found from the current folder upwards)")
    setup.add_argument("--course-id", required=True, help="nbgrader's course id, e.g. lstm-2026")
    setup.add_argument("--instructor", action="append", required=True, metavar="USER",
                       help="unix user who teaches (repeat for several)")
    who = setup.add_mutually_exclusive_group()
    who.add_argument("--learner", action="append", default=[], metavar="USER", help="unix user who learns (repeat)")
    who.add_argument("--learner-group", default="", metavar="GROUP", help="unix group of the learners")
    setup.add_argument("--exchange", default="", metavar="DIR", help="nbgrader's exchange (default: CLASS_DIR/exchange)")
    setup.add_argument("--gradebook", default="", metavar="URL",
                       help="nbgrader gradebook, e.g. postgresql://user:password@host/db (default: the course's SQLite)")
    setup.add_argument("--authenticator", default="pam", help="see below (default: %(default)s)")
    setup.add_argument("--ip", default="127.0.0.1", help="public address of the hub (default: %(default)s; put "
                                                         "a TLS reverse proxy in front for other machines)")
    setup.add_argument("--port", type=int, default=8000, help="public port (default: %(default)s)")
    setup.add_argument("--hub-port", type=int, default=8081, help="the hub's internal API port (default: %(default)s)")
    setup.add_argument("--proxy-api-port", type=int, default=8001, help="the proxy's API port (default: %(default)s)")
    setup.add_argument("--proxy", default=None, metavar="PATH", help="configurable-http-proxy (default: on PATH)")
    setup.add_argument("--no-sliders", action="store_true", help="no slider lecture page at /user/<name>/sliders/")
    setup.set_defaults(handler=_cmd_setup)

    start = steps.add_parser("start", help="run JupyterHub for a class folder (as root)",
                             description="Run `jupyterhub -f CLASS_DIR/jupyterhub_config.py` with this Python, "
                                         "its state in CLASS_DIR/state. Stop it with Ctrl-C or SIGTERM.")
    start.add_argument("class_dir", metavar="CLASS_DIR")
    start.set_defaults(handler=_cmd_start)

    from .. import explore

    lecture = commands.add_parser(
        "explore", help="every slider app on one code-free page (Voila)", description=explore.__doc__.split("\n\n")[0])
    explore.add_arguments(lecture)
    lecture.set_defaults(handler=explore.run)


def _cmd_setup(args):
    root = course.find_root(args.course)
    try:
        settings = ClassSettings(
            class_dir=str(Path(args.class_dir).resolve()), course_root=str(root), course_id=args.course_id,
            instructors=args.instructor, learners=args.learner, learner_group=args.learner_group,
            exchange_root=str(Path(args.exchange).resolve()) if args.exchange else "", gradebook=args.gradebook,
            authenticator=args.authenticator, ip=args.ip, port=args.port, hub_port=args.hub_port,
            proxy_api_port=args.proxy_api_port, proxy_command=[args.proxy or find_proxy()],
            sliders=not args.no_sliders)
    except ValueError as exc:
        print(f"lstm-course hub setup: {exc}", file=sys.stderr)
        return 2
    path = write_class(settings)
    print(f"wrote {path} and {Path(settings.course_root) / '.nbgrader' / 'class_config.py'}")
    print(f"start the hub as root: {Path(sys.executable).parent / 'lstm-course'} hub start {settings.class_dir}")
    return 0


def hub_command(class_dir):
    """The command line that runs the hub of ``class_dir`` (with this Python)."""
    return [sys.executable, "-m", "jupyterhub", "-f", str(Path(class_dir) / "jupyterhub_config.py")]


def _cmd_start(args):
    class_dir = Path(args.class_dir).resolve()
    settings = load_settings(class_dir / "class.json")
    if os.geteuid() != 0:
        print("note: not root: the local-process spawner can only start servers as this user", file=sys.stderr)
    return subprocess.call(hub_command(class_dir), cwd=settings.state_dir, env=course.tool_env())
