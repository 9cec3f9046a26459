"""doccorpus: the app's dataset, a Corpus of the standard library's docstrings.

The docstrings of the modules in SOURCES are read with `ast` (no code is
run), and counted by textstats.Corpus. Building it takes about a second, so
the Olympus plan builds it once and every command forks with it in memory.
"""

import ast
import importlib

from textstats import Corpus

SOURCES = """
    argparse asyncio base64 calendar collections concurrent.futures configparser csv
    dataclasses datetime decimal difflib email.message email.parser fractions gettext
    gzip hashlib html.parser http.client http.server inspect ipaddress json locale
    logging.handlers lzma mailbox multiprocessing pathlib pickle pprint pydoc random
    sqlite3 statistics string tarfile textwrap tomllib typing unittest urllib.request
    uuid xml.dom.minidom xml.etree.ElementTree zipfile zoneinfo
    ast bisect codecs contextlib copy dis email.headerregistry email.utils enum fnmatch
    ftplib functools getopt glob heapq http.cookiejar imaplib mimetypes optparse os pdb
    plistlib poplib pstats queue sched selectors shlex shutil smtplib socket ssl
    subprocess tempfile threading timeit trace traceback urllib.parse xml.sax
""".split()

_corpus = None


def import_sources():
    """Import the modules of SOURCES; returns them."""
    return [importlib.import_module(name) for name in SOURCES]


def docstrings(path):
    """Every module, class and function docstring of the Python file at `path`."""
    with open(path, encoding="utf-8") as source:
        tree = ast.parse(source.read(), path)
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return [doc for node in ast.walk(tree) if isinstance(node, kinds)
            for doc in [ast.get_docstring(node)] if doc]


def build():
    """Build a new Corpus from the docstrings of SOURCES."""
    paths = sorted({module.__file__ for module in import_sources()
                    if (module.__file__ or "").endswith(".py")})
    corpus = Corpus()
    for path in paths:
        for doc in docstrings(path):
            corpus.add(doc)
    return corpus


def get():
    """The shared corpus, built on first use."""
    global _corpus
    if _corpus is None:
        _corpus = build()
    return _corpus
