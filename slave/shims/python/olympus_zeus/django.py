"""Olympus plan for Django projects (see ../README.md, "Django").

``olympus init --django`` writes a zeus.json that runs it::

    DJANGO_SETTINGS_MODULE=mysite.settings python3 -m olympus_zeus olympus_zeus.django

    boot                  Django's framework modules; requirements*.txt, poetry.lock
    └─ settings           the settings module; .env
       └─ setup           django.setup(): the apps, their models, admin modules
          ├─ manage       any management command: manage migrate
          ├─ shell        manage shell
          ├─ runserver    manage runserver
          └─ test_environment   the test runner and Django's test framework
               └─ test    manage test

A change to a file a phase loaded or declared restarts that phase and the
phases below it. A project plan can build on this one: import these
functions and call ``olympus_zeus.track(path)`` for more files.
"""

import glob
import os
import sys

from .worker import track

__all__ = ["boot", "settings", "setup", "test_environment", "manage", "shell", "runserver", "test"]

# Files a phase depends on without importing them. The named ones are
# watched even when missing, so that creating one restarts the phase too.
DEPENDENCY_FILES = ("requirements.txt", "poetry.lock")
DEPENDENCY_PATTERN = "requirements*.txt"
SETTINGS_FILES = (".env",)

# Imported once in the root: none of them reads the settings.
FRAMEWORK_MODULES = (
    "django.core.management", "django.db.models", "django.forms", "django.http",
    "django.shortcuts", "django.template", "django.urls", "django.views",
)

# Django's exit code after its autoreloader saw a change.
RELOAD_EXIT_CODE = 3


# --- phases ---

def boot():
    for path in sorted({*DEPENDENCY_FILES, *glob.glob(DEPENDENCY_PATTERN)}):
        track(path)
    for name in FRAMEWORK_MODULES:
        __import__(name)


def settings():
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise RuntimeError("DJANGO_SETTINGS_MODULE is not set: name the settings module in zeus.json's "
                           "command (olympus init --django writes it)")
    for path in SETTINGS_FILES:
        track(path)
    from django.conf import settings as django_settings
    django_settings.INSTALLED_APPS  # the first setting read imports the settings module


def setup():
    import django
    django.setup()


def test_environment():
    # The runner sets up the test environment and creates the test databases
    # in each run: databases and their connections cannot be shared by forks.
    from django.conf import settings as django_settings
    from django.test.utils import get_runner
    import django.core.management.commands.test  # noqa: F401
    get_runner(django_settings)


# --- commands ---

def manage():
    """``control run manage COMMAND [ARGS]``: like ``manage.py COMMAND [ARGS]``."""
    return execute(sys.argv[1:])


def shell():
    return execute(["shell"] + sys.argv[1:])


def runserver():
    return execute(["runserver"] + sys.argv[1:])


def test():
    return execute(["test"] + sys.argv[1:])


def execute(args):
    from django.core.management import execute_from_command_line
    if args[:1] != ["runserver"] or "--noreload" in args:
        return execute_from_command_line(["manage.py"] + args)
    # Django's autoreloader would start Python again, outside the preloaded
    # phase; serving from this process, it stops the server on a change instead.
    from django.utils import autoreload
    os.environ[autoreload.DJANGO_AUTORELOAD_ENV] = "true"
    try:
        execute_from_command_line(["manage.py"] + args)
    except SystemExit as error:
        if error.code == RELOAD_EXIT_CODE:
            print("olympus: the server stopped because its code changed; run it again to serve the new code",
                  file=sys.stderr)
        raise
