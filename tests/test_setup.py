"""The project's set-up files agree with each other and with the README."""

import re
import tomllib

import yaml
from conftest import ROOT

import lstm_helpers


def readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def _name(requirement):
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(requirement):
    return requirement.strip().replace(" ", "")


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = {_name(d): _spec(d) for d in env if isinstance(d, str) and _name(d) not in ("python", "pip")}
    pip = {_name(d): _spec(d) for d in project["dependencies"]}
    assert conda == pip
    assert any(isinstance(d, dict) and "-e ." in d.get("pip", []) for d in env), "environment.yml must install the package"


def test_ci_runs_the_readme_test_command():
    test_command = readme_commands()[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_readme_learner_command_sets_up_and_opens_the_course():
    learner = readme_commands()[0]
    assert "pip install -e ." in learner and "lstm-course lab" in learner


def test_nbgrader_pins_from_the_issue():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "nbgrader==0.9.6" in deps and "jupyterlab>=4.2,<5" in deps and "notebook>=7.2,<8" in deps


def test_package_version_is_the_one_the_notebooks_require():
    for path in sorted((ROOT / "solutions").rglob("*.ipynb")) + sorted((ROOT / "notebooks").rglob("*.ipynb")):
        found = re.findall(r'require_version\(\\"([^\\]+)\\"\)', path.read_text())
        assert found == [lstm_helpers.__version__], f"{path.relative_to(ROOT)} requires {found}"


def test_nbgrader_working_folders_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    for folder in (".nbgrader/", "submitted/", "autograded/", "feedback/"):
        assert folder in ignored


def test_lstm_course_lab_passes_jupyter_options_through(monkeypatch):
    from lstm_helpers.classroom import cli, lab

    seen = []
    monkeypatch.setattr(lab, "main", lambda argv: seen.append(argv) or 0)
    assert cli.main(["lab", "--port", "9999", "--no-browser"]) == 0
    assert cli.main(["lab", "--", "--instructor"]) == 0
    assert seen == [["--port", "9999", "--no-browser"], ["--instructor"]]


def test_ci_setup_installs_what_the_hub_tests_need():
    setup = (ROOT / ".ci" / "setup").read_text()
    for package in ("chromium", "bubblewrap", "postgresql", "python3-venv"):
        assert package in setup
    assert "PYTHON=/usr/bin/python3" in setup and "npm ci --prefix .ci" in setup
    assert "configurable-http-proxy" in (ROOT / ".ci" / "package.json").read_text()
    assert ".ci/node_modules/" in (ROOT / ".gitignore").read_text().split()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "lstm-helpers[hub]" in extras["test"]
    assert {"jupyterhub", "psycopg", "voila", "jupyter-server-proxy"} <= {_name(d) for d in extras["hub"]}


def test_the_class_environment_can_be_run_by_every_user():
    """The hub starts learners' servers from this Python: every folder on its way must be open to all."""
    import os
    import stat
    import sys
    from pathlib import Path

    for path in (Path(sys.executable), Path(os.path.realpath(sys.executable))):
        for part in [*path.parents, path]:
            assert part.stat().st_mode & stat.S_IXOTH, f"{part} is closed to other users (rebuild .venv: bash .ci/setup)"
