"""The class folder that ``lstm-course hub setup`` writes and the JupyterHub settings read from it (no hub runs)."""

import json
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import copy_course
from traitlets.config import Config

from lstm_helpers.classroom import exchange
from lstm_helpers.classroom.hub import config as hub_config
from lstm_helpers.classroom.hub import setup as hub_setup


@pytest.fixture
def klass(tmp_path):
    root = copy_course(tmp_path / "course")
    settings = hub_setup.ClassSettings(class_dir=str(tmp_path / "class"), course_root=str(root), course_id="lstm-2026",
                                       instructors=["teacher"], learners=["alice", "bob"], authenticator="dummy",
                                       gradebook="postgresql://u:p@127.0.0.1/gb", port=8123, proxy_command=["/x/chp"])
    return hub_setup.write_class(settings), settings


def test_class_folder_holds_every_setting(klass):
    path, settings = klass
    class_dir = Path(settings.class_dir)
    assert json.loads(path.read_text())["course_id"] == "lstm-2026"
    assert stat.S_IMODE((class_dir / "exchange").stat().st_mode) == 0o1777
    assert stat.S_IMODE((class_dir / "state").stat().st_mode) == 0o700
    page = json.loads((class_dir / "learner" / "labconfig" / "page_config.json").read_text())
    assert set(page["disabledExtensions"]) == set(hub_setup.LEARNER_HIDDEN_PLUGINS)
    assert json.loads((class_dir / "instructor" / "labconfig" / "page_config.json").read_text()) == {
        "disabledExtensions": {}}
    # the course's own nbgrader configuration picks up the class: course id, exchange, gradebook
    seen = exchange.exchange_settings(settings.course_root)
    assert seen["course_id"] == "lstm-2026" and seen["exchange"] == settings.exchange_root
    assert seen["db_url"] == "postgresql://u:p@127.0.0.1/gb"


def test_jupyterhub_settings_come_from_class_json(klass):
    path, settings = klass
    c = Config()
    hub_config.configure(c, path)
    assert c.JupyterHub.port == 8123 and c.JupyterHub.hub_ip == "127.0.0.1"
    assert c.ConfigurableHTTPProxy.command == ["/x/chp"]
    assert c.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.authenticator_class == "jupyterhub.auth.DummyAuthenticator"
    assert c.Authenticator.allowed_users == {"teacher", "alice", "bob"}
    assert c.Spawner.cmd == [str(Path(settings.python).parent / "jupyterhub-singleuser")]
    assert str(settings.state_dir) in c.JupyterHub.db_url

    def env_of(user):
        spawner = SimpleNamespace(user=SimpleNamespace(name=user), environment={"KEEP": "1"},
                                  log=SimpleNamespace(info=lambda *a: None))
        c.Spawner.pre_spawn_hook(spawner)
        return spawner.environment

    assert env_of("teacher")["JUPYTER_CONFIG_PATH"] == str(Path(settings.class_dir) / "instructor")
    assert env_of("alice")["JUPYTER_CONFIG_PATH"] == str(Path(settings.class_dir) / "learner")
    assert env_of("alice")["KEEP"] == "1"


def test_learner_nbgrader_config_names_the_exchange(klass):
    _, settings = klass
    c = Config()
    text = (Path(settings.class_dir) / "learner" / "nbgrader_config.py").read_text()
    exec(compile(text, "nbgrader_config.py", "exec"), {"get_config": lambda: c})
    assert c.CourseDirectory.course_id == "lstm-2026" and c.Exchange.root == settings.exchange_root


@pytest.mark.parametrize("bad", [dict(course_id="a+b"), dict(course_id=""), dict(instructors=[]),
                                 dict(authenticator="nonsense")])
def test_bad_class_settings_are_refused_with_the_argument_named(tmp_path, bad):
    args = dict(class_dir=str(tmp_path), course_root=str(tmp_path), course_id="c", instructors=["t"])
    args.update(bad)
    with pytest.raises(ValueError, match=next(iter(bad))):
        hub_setup.ClassSettings(**args)


def test_instructor_plugin_ids_exist_in_installed_nbgrader():
    import nbgrader

    js = "".join(p.read_text(errors="ignore") for p in
                 (Path(nbgrader.__file__).parent / "labextension" / "static").glob("*.js"))
    if not js:
        js = "".join(p.read_text(errors="ignore") for p in Path(nbgrader.__file__).parents[3].glob(
            "share/jupyter/labextensions/@jupyter/nbgrader/static/*.js"))
    for plugin in (*hub_setup.LEARNER_HIDDEN_PLUGINS, "@jupyter/nbgrader:assignment-list"):
        assert plugin in js, plugin
