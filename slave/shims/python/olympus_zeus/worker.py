"""The life of one worker node: register, run a phase, report files, serve.

A node is the root worker (started by the agent) or a child forked on
``S:<identifier>``. Every node speaks the modern Zeus generation, as the Ruby
gem does, over its own SOCK_DGRAM ``local`` socket:

    P:<pid>:<parent pid>:<identifier>   identity (parent 0 and a blank identifier for the root)
    (an fd)                             the read end of the feature pipe
    R:OK | R:<traceback>                result of the phase function

and writes each loaded file's absolute path, once, as a line on the feature
pipe. It then waits for ``S:<identifier>`` (fork a child node) and
``C:<identifier>`` (fork a command runner, see command.py).
"""

import importlib.util
import os
import select
import signal
import socket
import sys
import time
import traceback

from . import command
from .process import die_with_parent, flush_stdio, fork, strip_own_frames
from .wire import MAX_TEXT, Inbox, NUL, encode, send_fd, send_text

POLL_SECONDS = 0.5     # how often a ready node checks that its parent lives
REPORT_SECONDS = 1.0   # how often it looks for newly loaded modules

_tracked = []


def track(path):
    """Report `path` as loaded by this node (e.g. a data or config file the
    phase read), so that a change to it restarts the node like a module would.
    The file need not exist yet: creating it restarts the node too."""
    _tracked.append(os.path.realpath(path))


# --- Loaded files -----------------------------------------------------------

def source_path(filename):
    """The real path of a module's source file, or None."""
    if not isinstance(filename, str) or not filename:
        return None
    if filename.endswith(".pyc"):
        try:
            filename = importlib.util.source_from_cache(filename)
        except ValueError:  # a .pyc next to its source, or a sourceless .pyc
            filename = filename[:-1] if os.path.exists(filename[:-1]) else filename
    filename = os.path.realpath(filename)
    return filename if os.path.isfile(filename) else None


def files_in_error(error):
    """Files named by an exception: a SyntaxError's file and every traceback
    frame's file, following the __cause__/__context__ chain. A module whose
    import failed is not in sys.modules, so this is how it gets reported."""
    files, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, SyntaxError):
            files.append(error.filename)
        files.extend(frame.filename for frame in traceback.extract_tb(error.__traceback__))
        error = error.__cause__ or error.__context__
    return [path for path in map(source_path, files) if path]


class FeatureReporter:
    """Remembers what this process has reported, so that no path goes twice."""

    def __init__(self):
        self.sent = set()
        self.modules_seen = set()
        self.walked = (0, 0)  # the sizes of sys.modules and _tracked at the last walk

    def new_files(self, extra=()):
        # Walking sys.modules writes to every module (reference counts): right
        # after a fork, a copy-on-write fault per page, 12 ms for 200 modules.
        sizes = (len(sys.modules), len(_tracked))
        if sizes == self.walked and not extra:
            return []
        self.walked = sizes
        found = []
        for name, module in list(sys.modules.items()):
            if name not in self.modules_seen:
                self.modules_seen.add(name)
                found.append(source_path(getattr(module, "__file__", None)))
        found.extend(_tracked)
        found.extend(extra)
        new = [path for path in dict.fromkeys(found) if path and path not in self.sent]
        self.sent.update(new)
        return new


# --- Errors -----------------------------------------------------------------

def format_error(error):
    """The traceback as Python would print it for an uncaught exception."""
    text = "".join(traceback.format_exception(type(error), error, strip_own_frames(error.__traceback__)))
    data = text.encode("utf-8", "backslashreplace")
    if len(data) > MAX_TEXT:  # keep the start and the end, where the error is
        data = data[:2000] + b"\n[... traceback shortened by olympus ...]\n" + data[-(MAX_TEXT - 3000):]
    return data.decode("utf-8", "replace")


# --- The node ---------------------------------------------------------------

class Worker:
    def __init__(self, master, plan_name):
        self.master = master          # the inherited ZEUS_MASTER_FD socket
        self.plan_name = plan_name
        self.plan = None              # imported by the root's action
        self.local = None             # this node's own socket to the agent
        self.parent_pid = os.getppid()
        self.parent_node = 0          # the pid of the node we were forked from; 0 for the root
        self.feature_pipe = None      # write end; the agent reads one path per line
        self.children = set()         # child nodes and runners, reaped by us
        self.features = FeatureReporter()
        self.wakeup = None            # self-pipe for SIGCHLD, see serve()

    def start(self, identifier, action):
        """Register, run `action`, report, then serve forever. Never returns."""
        self.local = self.register(identifier)
        try:
            self.run_action(action)
        except BaseException as error:  # includes SystemExit and SyntaxError
            self.fail(error)
        self.send("R:OK")
        self.report_features()
        self.serve()

    def register(self, identifier):
        local, remote = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        socket.send_fds(self.master, [NUL], [remote.fileno()])
        remote.close()
        send_text(local, f"P:{os.getpid()}:{self.parent_node}:{identifier}")
        features_r, self.feature_pipe = os.pipe()
        send_fd(local, features_r)
        os.close(features_r)
        return local

    def run_action(self, action):
        if self.plan is None:
            __import__(self.plan_name)  # a builtin: no extra frame in tracebacks
            self.plan = sys.modules[self.plan_name]
        phase = getattr(self.plan, action, None)
        if not callable(phase):
            raise LookupError(f"the plan {self.plan_name!r} has no function {action!r}")
        phase()

    def fail(self, error):
        """Report a failed action, then the files it touched, then exit(1)."""
        try:
            self.send("R:" + format_error(error))
            self.report_features(extra=files_in_error(error))
        finally:
            flush_stdio()
            os._exit(1)

    def send(self, text):
        try:
            send_text(self.local, text)
        except OSError:  # the agent closed our socket: it is gone
            os._exit(0)

    def report_features(self, extra=()):
        lines = encode("".join(path + "\n" for path in self.features.new_files(extra)))
        try:
            while lines:
                lines = lines[os.write(self.feature_pipe, lines):]
        except OSError:  # the agent closed the pipe: it is gone
            os._exit(0)

    # --- Ready: wait for S: and C: ---

    def serve(self):
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self.wakeup = (wake_r, wake_w)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)  # SIGCHLD wakes select(): no zombies
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

        inbox = Inbox(self.local)
        next_report = time.monotonic() + REPORT_SECONDS
        while True:
            if os.getppid() != self.parent_pid:
                os._exit(0)
            readable, _, _ = select.select([self.local, wake_r], [], [], POLL_SECONDS)
            if wake_r in readable:
                self.drain_wakeup()
            self.reap()
            if self.local in readable:
                if not inbox.fill():
                    os._exit(0)
                inbox.close_fds()  # nobody sends us fds here
                while inbox.messages:
                    self.handle(inbox.messages.popleft())
            if time.monotonic() >= next_report:
                self.report_features()
                next_report = time.monotonic() + REPORT_SECONDS

    def drain_wakeup(self):
        try:
            while os.read(self.wakeup[0], 256):
                pass
        except BlockingIOError:
            pass

    def reap(self):
        for pid in list(self.children):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.discard(pid)

    def handle(self, message):
        kind, _, identifier = message.partition(":")
        if kind == "S":
            self.fork_child(identifier)
        elif kind == "C":
            self.fork_runner(identifier)
        else:
            print(f"olympus worker {os.getpid()}: ignoring message {message!r}", file=sys.stderr)
        self.report_features()

    def fork_child(self, identifier):
        def become_child(parent):
            die_with_parent(parent)
            self.local.close()
            os.close(self.feature_pipe)
            self.parent_pid = parent
            self.parent_node = parent
            self.children = set()
            self.features = FeatureReporter()  # a child reports all its files
            self.start(identifier, identifier)

        self.fork_and_run(become_child)

    def fork_runner(self, identifier):
        self.fork_and_run(lambda parent: command.run_runner(self, identifier, parent))

    def fork_and_run(self, body):
        """Forks; the parent keeps serving, the child runs body(parent pid) and never returns."""
        me = os.getpid()
        pid = fork()
        if pid:
            self.children.add(pid)
            return
        try:
            self.leave_loop()
            body(me)
        except BaseException:
            traceback.print_exc()
        finally:
            flush_stdio()
            os._exit(1)

    def leave_loop(self):
        """In a forked child: undo serve()'s signal set-up."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if self.wakeup:
            for fd in self.wakeup:
                os.close(fd)
            self.wakeup = None


USAGE = "usage: python3 -m olympus_zeus PLAN_MODULE [ROOT_ACTION]  (with ZEUS_MASTER_FD set)"


def main(argv):
    if len(argv) not in (2, 3) or "ZEUS_MASTER_FD" not in os.environ:
        print(USAGE, file=sys.stderr)
        return 2
    plan_name = argv[1]
    action = argv[2] if len(argv) == 3 else "boot"

    # The app directory (the cwd) comes first on sys.path.
    cwd = os.getcwd()
    sys.path[:] = [cwd] + [p for p in sys.path if p not in ("", cwd)]

    die_with_parent(os.getppid())  # the agent spawns us from its main thread

    fd = int(os.environ["ZEUS_MASTER_FD"])
    os.set_inheritable(fd, False)  # forked children keep it; exec'd programs don't
    master = socket.socket(fileno=fd)

    # The agent owns the nodes' lifetime; a ^C meant for whoever shares our
    # process group must not kill them. Commands get SIGINT back (command.py).
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    Worker(master, plan_name).start("", action)
