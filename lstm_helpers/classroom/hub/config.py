"""JupyterHub settings of a class, from its ``class.json`` (see :mod:`.setup`).

``configure(c, "CLASS_DIR/class.json")`` is all the class's
``jupyterhub_config.py`` calls. It sets:

* the **proxy**: configurable-http-proxy, its API on 127.0.0.1;
* the **hub**: public address and port from ``class.json``, its own API on
  127.0.0.1, its database, cookie secret and pid files in ``state/``;
* the **authenticator** (``pam`` by default; ``dummy`` is for tests only) and
  who may log in: the instructors and the learners (or the members of
  ``learner_group``);
* the **spawner**: JupyterHub's local-process spawner starts
  ``jupyterhub-singleuser`` from the class environment as the user's unix
  account, in the user's home, opening JupyterLab; before each start the
  user's home is closed to others (:func:`.setup.close_home`) and the user's
  role picks the Jupyter configuration folder (``learner/`` or ``instructor/``).
"""

import logging

from .setup import AUTHENTICATORS, close_home, load_settings

log = logging.getLogger(__name__)


def pre_spawn(settings):
    """The hook that runs before a user's server starts (see the module docstring)."""

    def hook(spawner):
        user = spawner.user.name
        role = settings.role(user)
        close_home(user)
        spawner.environment = {
            **spawner.environment,
            "JUPYTER_CONFIG_PATH": str(settings.config_dir(role)),
            "PATH": f"{settings.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "LSTM_COURSE_ROLE": role,
        }
        spawner.log.info("starting the %s server of %s", role, user)

    return hook


def configure(c, settings_path):
    """Fill the JupyterHub config ``c`` from the class settings at ``settings_path``."""
    settings = load_settings(settings_path)
    state = settings.state_dir

    c.JupyterHub.ip = settings.ip
    c.JupyterHub.port = settings.port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = settings.hub_port
    c.JupyterHub.db_url = "sqlite:///" + str(state / "jupyterhub.sqlite")
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")

    c.JupyterHub.proxy_class = "configurable-http-proxy"
    c.ConfigurableHTTPProxy.command = list(settings.proxy_command)
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

    c.JupyterHub.authenticator_class = AUTHENTICATORS.get(settings.authenticator, (settings.authenticator,))[0]
    if settings.authenticator == "dummy":
        log.warning("DummyAuthenticator accepts any password: for tests on 127.0.0.1 only")
    allowed = set(settings.instructors) | set(settings.learners)
    if settings.learner_group:
        c.Authenticator.allowed_users = set(settings.instructors)
        c.LocalAuthenticator.allowed_groups = {settings.learner_group}
    elif settings.learners:
        c.Authenticator.allowed_users = allowed
    else:
        c.Authenticator.allow_all = True  # whoever the authenticator admits

    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.cmd = [str(settings.bin_dir / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.notebook_dir = "~"
    c.Spawner.start_timeout = settings.spawn_timeout
    c.Spawner.http_timeout = settings.spawn_timeout
    c.Spawner.pre_spawn_hook = pre_spawn(settings)
    for user in sorted(allowed):
        close_home(user)
    return settings
