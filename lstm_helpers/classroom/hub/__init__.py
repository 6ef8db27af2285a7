"""A class on one JupyterHub server: the hub, the learners' and the instructor's Lab, the exchange.

``lstm-course hub setup CLASS_DIR --course COURSE --instructor NAME ...`` writes
everything into ``CLASS_DIR`` (and one file into the course's git-ignored
``.nbgrader/``); nothing goes to ``/etc`` and no global nbgrader configuration
is written, so other nbgrader runs on the machine are untouched::

    CLASS_DIR/
      class.json             the class: course, course id, people, ports, authenticator (no secrets)
      jupyterhub_config.py   two lines: loads class.json through lstm_helpers.classroom.hub.config
      learner/               JUPYTER_CONFIG_PATH of every learner's server: nbgrader's exchange and
                             course id; the Lab without formgrader, course list and create-assignment
                             panels, with the Assignments tab and Validate; the slider lecture page
      instructor/            JUPYTER_CONFIG_PATH of the instructors' servers: formgrader on the course
      exchange/              nbgrader's exchange (mode 1777: anyone may hand in, nobody may rename
                             another's folder), unless --exchange puts it elsewhere
      state/                 the hub's database, cookie secret and logs (root only)
    COURSE/.nbgrader/class_config.py
                             course id, exchange and gradebook URL, loaded by the course's own
                             nbgrader_config.py, so every nbgrader command run in the course uses them

``lstm-course hub start CLASS_DIR`` then runs ``jupyterhub`` with that
configuration, as root, since the local-process spawner starts each user's
server as that unix user. See the README's "Running a class on JupyterHub".
"""

from .setup import ClassSettings, close_home, load_settings, write_class

__all__ = ["ClassSettings", "close_home", "load_settings", "write_class"]
