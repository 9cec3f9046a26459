"""Running a command: the runner process and the command process.

On ``C:<identifier>`` a ready node forks a *runner*, which

1. makes a socketpair (cmd_local, cmd_remote) of the node socket's type, sends
   cmd_remote over the node's socket (payload b"\\0"), and from then on talks
   over cmd_local only;
2. receives ``<client pid>:<argument count>``, then three fds in order: a pipe
   holding the arguments (each ending in NUL), the terminal (stdin and stdout)
   and stderr;
3. answers ``P:<runner pid>:<node pid>:`` (blank identifier);
4. forks the *command process*, waits for it and sends ``<exit code>``
   (128+N after signal N). A command that ends by returning or exiting
   closes its stdio and reports its code over a pipe just before its
   os._exit(), because tearing down a large forked process takes
   milliseconds; the runner passes the code on at once and reaps the
   process afterwards.

While waiting, the runner forwards SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1
and SIGUSR2 to the command's process group, and runs the watchdog: every
0.5 s it checks the client pid with kill(pid, 0); when the client is gone it
sends SIGHUP, then SIGKILL a second later. A client pid of 0 turns the
watchdog off. The runner does not die with its node: a command keeps running
when its node is restarted.

With OLYMPUS_RUNNER_RUNS_COMMAND=1 (set by an agent that learns how a
process it did not fork ended) step 4 is one process: the runner becomes the
command and sends its own code, a fork and an exit less per command. A death
by a signal sends nothing; the agent reads the process's wait status. The
agent hangs the command up when its control leaves, and its guardian kills
the command's group if the agent dies, so no watchdog runs.
"""

import atexit
import fcntl
import io
import os
import select
import signal
import socket
import sys
import termios
import threading
import time

from .process import die_with_parent, exit_code, fork, flush_stdio, is_alive, strip_own_frames
from .wire import Inbox, send_fd, send_text

HANDSHAKE_SECONDS = 30    # the agent must complete steps 2-3 within this time
RUNNER_RUNS_COMMAND = os.environ.pop("OLYMPUS_RUNNER_RUNS_COMMAND", "0") == "1"  # read by the root, not passed on
WATCHDOG_SECONDS = 0.5
KILL_AFTER_SECONDS = 1.0
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP,
                     signal.SIGUSR1, signal.SIGUSR2)


def run_runner(node, identifier, node_pid):
    """The runner, in the process forked from `node`. Never returns."""
    os.setsid()  # as the gem's runner: a restart of the root's process group leaves it running
    cmd_local, cmd_remote = socket.socketpair(socket.AF_UNIX, node.local.type)
    send_fd(node.local, cmd_remote.fileno())
    cmd_remote.close()
    node.local.close()
    node.master.close()
    os.close(node.feature_pipe)

    inbox = Inbox(cmd_local)
    deadline = time.monotonic() + HANDSHAKE_SECONDS
    try:
        client_pid, count = (int(part) for part in inbox.next_message(deadline).split(":"))
        args = read_arguments(inbox.next_fd(deadline), deadline)  # read it now: it may be big
        terminal_fd = inbox.next_fd(deadline)
        stderr_fd = inbox.next_fd(deadline)
    except (EOFError, ValueError) as error:
        print(f"olympus runner {os.getpid()}: bad command handshake: {error}", file=sys.stderr)
        os._exit(1)
    send_text(cmd_local, f"P:{os.getpid()}:{node_pid}:")

    if len(args) != count:
        os.write(stderr_fd, f"olympus: expected {count} arguments, received {len(args)}\n".encode())
        send_exit_code(cmd_local, 1)
        os._exit(0)
    if RUNNER_RUNS_COMMAND:
        run_command_process(node.plan, identifier, args, terminal_fd, stderr_fd,
                            lambda code: send_exit_code(cmd_local, code))
    runner_pid = os.getpid()
    report_r, report_w = os.pipe()
    pid = fork()
    if pid == 0:
        cmd_local.close()
        os.close(report_r)
        os.setsid()
        die_with_parent(runner_pid)
        run_command_process(node.plan, identifier, args, terminal_fd, stderr_fd,
                            lambda code: report_to_runner(report_w, code))
    os.close(terminal_fd)
    os.close(stderr_fd)
    os.close(report_w)
    send_exit_code(cmd_local, wait_for_command(pid, client_pid, report_r))
    reap(pid)
    os._exit(0)


def send_exit_code(cmd_local, code):
    try:
        send_text(cmd_local, str(code))
    except OSError:
        pass  # the agent is gone: nobody to tell


def read_arguments(fd, deadline):
    """Read the argument pipe to EOF; each argument ends in NUL."""
    data = b""
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([pipe], [], [], remaining)[0]:
                raise EOFError("the argument pipe was not closed")
            chunk = pipe.read(65536)
            if not chunk:
                break
            data += chunk
    if data and not data.endswith(b"\0"):
        raise ValueError("the last argument does not end in NUL")
    return [os.fsdecode(arg) for arg in data.split(b"\0")[:-1]]


def wait_for_command(pid, client_pid, report_fd):
    """Wait for the command's exit code (reported, or its exit status),
    forwarding signals and running the watchdog."""

    def signal_command(signum, frame=None):
        try:
            os.killpg(pid, signum)        # the command leads its own group
        except ProcessLookupError:
            try:
                os.kill(pid, signum)      # it has not called setsid() yet
            except ProcessLookupError:
                pass

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, signal_command)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    watched = [wake_r, report_fd]
    hangup_at = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return exit_code(status)
        if hangup_at is None:
            if client_pid > 0 and not is_alive(client_pid):
                signal_command(signal.SIGHUP)
                hangup_at = time.monotonic()
        elif time.monotonic() - hangup_at >= KILL_AFTER_SECONDS:
            signal_command(signal.SIGKILL)
        ready = select.select(watched, [], [], WATCHDOG_SECONDS)[0]
        if report_fd in ready:
            report = os.read(report_fd, 16)
            if report:
                return int(report)
            watched.remove(report_fd)  # closed without a report: the exit status will tell
        if wake_r in ready:
            try:
                os.read(wake_r, 256)
            except BlockingIOError:
                pass


def reap(pid):
    """Wait for a command that already reported its code."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def report_to_runner(report_fd, code):
    try:
        os.write(report_fd, str(code).encode())
    except OSError:
        pass


def run_command_process(plan, identifier, args, terminal_fd, stderr_fd, report):
    """The command process, leading its own session: wire up the terminal,
    run the plan's function, report(code) and exit."""
    try:
        signal.set_wakeup_fd(-1)
        for signum in FORWARDED_SIGNALS + (signal.SIGCHLD,):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # ^C -> KeyboardInterrupt

        # Move both fds above 2 first: one of them may have landed on 0-2.
        terminal, errors = (fcntl.fcntl(fd, fcntl.F_DUPFD, 3) for fd in (terminal_fd, stderr_fd))
        for fd in {terminal_fd, stderr_fd} - {0, 1, 2}:
            os.close(fd)
        os.dup2(terminal, 0)
        os.dup2(terminal, 1)
        os.dup2(errors, 2)
        os.close(terminal)
        os.close(errors)
        if os.isatty(0):
            try:  # become the session's controlling terminal: ^C works via the line discipline
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            except OSError:
                pass
        reopen_stdio()

        sys.argv = [identifier] + args
        os.environ.pop("ZEUS_MASTER_FD", None)
        code = run_command(plan, identifier)
    except BaseException:
        code = 1
        try:
            sys.excepthook(*sys.exc_info())
        except BaseException:
            pass
    flush_stdio()
    os.closerange(0, 3)  # the agent's end of output: now, not after the teardown
    report(code)
    os._exit(code)


def reopen_stdio():
    """New sys.std* objects for fds 0-2: the node's were made for other files
    (line buffering and encoding are chosen when a stream is opened)."""
    tty = os.isatty(1)
    encoding, errors = (sys.stdout.encoding, sys.stdout.errors) if sys.stdout else (None, None)
    sys.stdin = sys.__stdin__ = open(0, "r", encoding=encoding, errors=errors, closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", buffering=1 if tty else -1, encoding=encoding,
                                       errors=errors, closefd=False)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(open(2, "wb", buffering=0, closefd=False),
                                                   encoding=encoding, errors="backslashreplace",
                                                   line_buffering=True)


def run_command(plan, identifier):
    """Run the command function like a Python main program; returns the exit code.

    Returning normally gives 0 (or the returned int), SystemExit gives its
    code, an uncaught exception prints its traceback and gives 1, and an
    uncaught KeyboardInterrupt kills the process with SIGINT as Python does.
    Threads the command started are joined and its atexit handlers run; the
    node's own atexit handlers are not run in the command.
    """
    function = getattr(plan, identifier, None)
    if not callable(function):
        print(f"olympus: the plan has no command function {identifier!r}", file=sys.stderr)
        return 1
    atexit._clear()
    try:
        result = function()
        code = result if type(result) is int else 0
    except SystemExit as error:
        code = system_exit_code(error)
    except KeyboardInterrupt as error:
        print_exception(error)
        flush_stdio()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 130
    except BaseException as error:
        print_exception(error)
        code = 1
    try:
        threading._shutdown()  # wait for non-daemon threads, as interpreter exit does
    except Exception:
        pass
    atexit._run_exitfuncs()
    return code


def system_exit_code(error):
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def print_exception(error):
    """Print as an uncaught exception (sys.excepthook), without the shim's frames."""
    error = error.with_traceback(strip_own_frames(error.__traceback__))
    sys.excepthook(type(error), error, error.__traceback__)
