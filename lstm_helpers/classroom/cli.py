"""``lstm-course``: the course's command line.

    lstm-course release                 regenerate notebooks/ from solutions/ (nbgrader)
    lstm-course grade SUBMISSIONS       autograde a class: CSV + feedback
    lstm-course check [NOTEBOOK|FOLDER] self-study: grade your own notebook(s) (default: your workspace)
    lstm-course similarity SUBMITTED    near-identical answers, and copies of the reference
    lstm-course lab                     start JupyterLab on your workspace
    lstm-course update                  bring the course's new versions into your workspace, keeping your answers
    lstm-course exchange STEP           the term through nbgrader's exchange: release, collect, feedback
    lstm-course hub ...                 a class on one JupyterHub server: write its configuration, start it
    lstm-course explore                 every slider app on one code-free page (Voila)

Every subcommand has ``--help``.
"""

import argparse
import os
import sys

from .. import __version__
from . import similarity


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _add_timeouts(parser):
    parser.add_argument("--cell-timeout", type=_positive_int, default=None, metavar="S",
                        help="seconds a cell may run before it is interrupted (default: c.Execute.timeout "
                             "from nbgrader_config.py)")
    parser.add_argument("--notebook-timeout", type=_seconds, default=600, metavar="S",
                        help="grading time budget per notebook; cells left when it is spent are not run "
                             "and earn no points (default: 600; 0 = no budget)")
    parser.add_argument("--course", metavar="DIR", default=None,
                        help="the course folder (with nbgrader_config.py and solutions/); "
                             "default: found from the current folder upwards")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="lstm-course",
        description="The LSTM course: release notebooks, grade a class, check your own work, start JupyterLab.",
    )
    parser.add_argument("--version", action="version", version=f"lstm-course {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    release = commands.add_parser(
        "release", help="regenerate notebooks/ from solutions/ with nbgrader",
        description="Regenerate the student notebooks (notebooks/<chapter>/) from the instructor sources "
                    "(solutions/<chapter>/), exactly as `nbgrader generate_assignment <chapter> --force --no-db` "
                    "does for every chapter.")
    release.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapters to release (default: all)")
    release.add_argument("--course", metavar="DIR", default=None, help="the course folder (default: found upwards)")
    release.set_defaults(handler=cmd_release)

    grade = commands.add_parser(
        "grade", help="autograde a whole class through nbgrader: CSV and feedback",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Autograde every student's notebooks with nbgrader (autograde + generate_feedback), one "
                    "private gradebook per student, N students at a time.",
        epilog="SUBMISSIONS is either nbgrader's submitted/<student>/<chapter>/<chapter>.ipynb layout, or a\n"
               "flat folder of returned notebooks named <student>_<chapter>.ipynb or <chapter>_<student>.ipynb\n"
               "('-', '.' or a space also separate; copy suffixes like ' (1)' are ignored).\n"
               "The CSV has one row per student: one column per exercise (<chapter>/<test cell id>), one\n"
               "per chapter, the total and a status. Feedback goes to FEEDBACK/<student>/<chapter>/<chapter>.html\n"
               "without the hidden tests.")
    grade.add_argument("submissions", metavar="SUBMISSIONS", help="folder of submissions (see below)")
    grade.add_argument("--jobs", "-j", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                       help="students graded at the same time (default: number of cores, %(default)s here)")
    grade.add_argument("--out", "-o", default="grades.csv", metavar="CSV", help="CSV file to write (default: %(default)s)")
    grade.add_argument("--feedback", default="feedback", metavar="DIR",
                       help="folder for the feedback HTML (default: %(default)s)")
    grade.add_argument("--no-feedback", action="store_true", help="do not generate feedback (faster)")
    grade.add_argument("--chapters", nargs="+", metavar="CHAPTER", default=None,
                       help="chapters to grade (default: every chapter someone submitted)")
    grade.add_argument("--gradebook", metavar="DB", default=None,
                       help="also write the scores into this nbgrader gradebook (sqlite file or URL), e.g. "
                            ".nbgrader/gradebook.db, for formgrader")
    grade.add_argument("--course-id", metavar="ID", default=None,
                       help="nbgrader course id for --gradebook (PostgreSQL needs one; default: "
                            "c.CourseDirectory.course_id of nbgrader_config.py)")
    grade.add_argument("--work", metavar="DIR", default=None,
                       help="keep the private course folders (autograded notebooks, logs) here for inspection")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="grade without isolating the notebooks (when bubblewrap cannot run here); the CSV "
                            "marks every row graded without isolation")
    _add_timeouts(grade)
    grade.set_defaults(handler=cmd_grade)

    check = commands.add_parser(
        "check", help="self-study: grade your notebook(s) and say what to fix",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run your notebook in a fresh kernel exactly as the grader does, then print every "
                    "exercise: passed, failed with a hint, or not attempted, and the score including the "
                    "hidden tests. Give a folder to see your progress across chapters.",
        epilog="exit status: 0 everything passed; 1 something failed (or could not be graded);\n"
               "3 nothing failed but some exercises are not attempted yet.")
    check.add_argument("paths", nargs="*", metavar="NOTEBOOK|FOLDER",
                       help="a notebook, or a folder of them (default: the chapters in your workspace)")
    check.add_argument("--jobs", "-j", type=_positive_int, default=None, metavar="N",
                       help="notebooks checked at the same time (default: number of cores)")
    _add_timeouts(check)
    check.set_defaults(handler=cmd_check)

    update = commands.add_parser(
        "update", help="bring the course's new versions into your workspace, keeping your answers",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="For every chapter whose release changed since your copy was made, build the new\n"
                    "version with your answers carried over (by their nbgrader cell ids). Work that cannot\n"
                    "be put back safely is kept in a marked section at the end of the notebook; your\n"
                    "previous file is kept in the workspace's backups/ folder. New chapters are copied in.",
        epilog="exit status: 0 done; 1 a notebook was left alone (unreadable, or open in Jupyter with\n"
               "possibly unsaved changes); 2 no workspace, or an unknown chapter.")
    update.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapters to update (default: all)")
    update.add_argument("--dry-run", "-n", action="store_true", help="say what would change; write nothing")
    update.add_argument("--force", action="store_true",
                        help="also update notebooks that are open in Jupyter and may have unsaved changes")
    update.add_argument("--workspace", metavar="DIR", default=None, help="the workspace (default: the one "
                        "`lstm-course lab` uses)")
    update.add_argument("--course", metavar="DIR", default=None, help="the course folder (default: found upwards)")
    update.set_defaults(handler=cmd_update)

    similarity.add_command(commands)

    lab = commands.add_parser(
        "lab", help="start JupyterLab on your workspace (lstm_helpers.classroom.lab)",
        description="Start JupyterLab on your workspace, made from the course's notebooks on the first launch. "
                    "Arguments after `lab` are passed on to lstm_helpers.classroom.lab; use "
                    "`lstm-course lab -- --help` for its own options (--workspace DIR).")
    lab.add_argument("lab_args", nargs=argparse.REMAINDER, metavar="ARGS", help="passed to lstm_helpers.classroom.lab.main")
    lab.set_defaults(handler=cmd_lab)

    from . import exchange  # the term through nbgrader's exchange, the class's hub, the slider lecture page
    exchange.add_commands(commands)
    return parser


def _root(args):
    from . import course

    return course.find_root(args.course)


def cmd_release(args):
    from . import course

    root = _root(args)
    names = args.chapters or None
    if names:
        unknown = sorted(set(names) - set(course.chapters(root)))
        if unknown:
            print(f"unknown chapter(s): {', '.join(unknown)}; known: {', '.join(course.chapters(root))}",
                  file=sys.stderr)
            return 2
    for path in course.release(root, names):
        print(f"released {path.relative_to(root)}")
    return 0


def _course_id(root):
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        return config.CourseDirectory.get("course_id") or None
    except Exception:
        return None


def cmd_grade(args):
    from pathlib import Path

    from . import exchange, grade
    from .results import STATUS_OK, fmt

    if not os.path.isdir(args.submissions):
        print(f"{args.submissions}: not a folder", file=sys.stderr)
        return 2
    root = _root(args)
    try:
        result = grade.grade_class(
            args.submissions, course_root=root, jobs=args.jobs, out_csv=args.out,
            feedback_dir=None if args.no_feedback else args.feedback, feedback=not args.no_feedback,
            cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, chapters=args.chapters,
            gradebook=args.gradebook, course_id=args.course_id or _course_id(root), work_dir=args.work,
            use_sandbox=not args.no_sandbox, collection_notes=exchange.collection_notes(root),
        )
    except grade.SandboxUnavailable as exc:
        print(f"lstm-course grade: {exc}", file=sys.stderr)
        return 2
    maxima = result.max_points()
    flagged = [s for s in result.students if s.status() != STATUS_OK]
    print(f"graded {len(result.students)} students in {result.seconds:.0f} s; "
          f"chapters: {', '.join(f'{c} (/{fmt(maxima[c])})' for c in result.chapters) or 'none'}")
    print(f"wrote {args.out}" + ("" if args.no_feedback else f" and feedback in {Path(args.feedback)}"))
    if flagged:
        print(f"{len(flagged)} students have a status other than ok:")
        for student in flagged:
            print(f"  {student.student}: {student.status()}")
    return 0


def cmd_check(args):
    from . import report

    root = _root(args) if args.course else None
    if not args.paths:  # the learner's workspace, one notebook per chapter (not its backups)
        from . import lab, workspace

        ws = workspace.open_workspace(root or _course_or_none(lab))
        args.paths = [str(ws.notebook(c)) for c in ws.chapters()]
        if not args.paths:
            print(f"{ws.path} has no chapter notebooks: `lstm-course update` copies them in", file=sys.stderr)
            return 2
        root = root or ws.course_root
        print(f"Checking your workspace {ws.path}")
    return report.check(args.paths, course_root=root, jobs=args.jobs, cell_timeout=args.cell_timeout,
                        notebook_timeout=args.notebook_timeout)


def _course_or_none(lab):
    try:
        return lab.course_root()
    except FileNotFoundError:
        return None


def cmd_update(args):
    from . import update

    return update.cli_update(chapters=args.chapters, dry_run=args.dry_run, force=args.force,
                             workspace=args.workspace, course_dir=args.course)


def cmd_lab(args):
    from . import lab  # written separately; imported only when needed

    argv = list(args.lab_args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    return lab.main(argv)


def main(argv=None):
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["lab"] and not {"-h", "--help"} & set(argv[1:2]):
        # everything after `lab` belongs to jupyter lab, options included (--port 9999)
        args = parser.parse_args(["lab"])
        args.lab_args = argv[1:]
    else:
        args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        code = args.handler(args)
    except FileNotFoundError as exc:
        print(f"lstm-course: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
