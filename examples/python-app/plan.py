"""Olympus plan of the example app: one function per phase and per command.

    boot                       import the app and the standard library it uses
    └─ default_environment     build the docstring corpus (about a second)
       ├─ development_environment
       │    console, hello     commands
       └─ test_environment     import the tests
            test               command

Each command runs in a process forked from its phase, with everything above
already loaded: `hello` answers in milliseconds instead of seconds.
"""

import os
import sys

APP_DIR = os.path.dirname(os.path.abspath(__file__))


# --- phases ---

def boot():
    import doccorpus
    import textstats  # noqa: F401
    doccorpus.import_sources()


def default_environment():
    import doccorpus
    doccorpus.get()


def development_environment():
    os.environ.setdefault("APP_ENV", "development")


def test_environment():
    os.environ["APP_ENV"] = "test"
    import unittest
    unittest.defaultTestLoader.discover(os.path.join(APP_DIR, "tests"), top_level_dir=APP_DIR)


# --- commands ---

def hello():
    import doccorpus
    corpus = doccorpus.get()
    print(f"hello from pid {os.getpid()}: {len(corpus):,} words in {corpus.documents:,} docstrings")


def console():
    import code
    import doccorpus
    import textstats
    corpus = doccorpus.get()
    banner = (f"Python {sys.version.split()[0]}, example app loaded ({os.environ.get('APP_ENV')}).\n"
              f"corpus: {len(corpus):,} words; try corpus.top(10) or corpus.collocations()")
    code.interact(banner=banner, local={"corpus": corpus, "textstats": textstats,
                                        "doccorpus": doccorpus}, exitmsg="")


def test():
    """Run the tests (all, or the names or files given as arguments; -v for verbose)."""
    import unittest
    args = sys.argv[1:]
    verbosity = 2 if "-v" in args else 1
    names = [module_name(arg) for arg in args if arg != "-v"]
    loader = unittest.defaultTestLoader
    if names:
        suite = loader.loadTestsFromNames(names)
    else:
        suite = loader.discover(os.path.join(APP_DIR, "tests"), top_level_dir=APP_DIR)
    result = unittest.TextTestRunner(verbosity=verbosity).run(suite)
    return 0 if result.wasSuccessful() else 1


def module_name(arg):
    """tests/test_x.py (as `control test` passes it) → tests.test_x; a dotted name stays as it is."""
    if arg.endswith(".py"):
        return os.path.relpath(os.path.join(APP_DIR, arg[:-3]), APP_DIR).replace(os.sep, ".")
    return arg
