"""Process helpers shared by nodes, runners and commands."""

import os
import signal
import sys


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True)
    except (ImportError, OSError):
        return None


_libc = _load_libc()
_THIS_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def die_with_parent(parent_pid):
    """In a freshly forked child: be SIGKILLed as soon as the parent dies
    (Linux prctl), and leave now if it is already gone. Elsewhere the poll
    loops notice a new parent pid instead."""
    if _libc is not None:
        from ctypes import c_ulong
        PR_SET_PDEATHSIG = 1
        _libc.prctl(c_ulong(PR_SET_PDEATHSIG), c_ulong(signal.SIGKILL), c_ulong(0), c_ulong(0), c_ulong(0))
    if os.getppid() != parent_pid:
        os._exit(0)


def flush_stdio():
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def fork():
    """os.fork() with stdio flushed first, so that buffered output is not doubled."""
    flush_stdio()
    return os.fork()


def strip_own_frames(tb):
    """Drop the shim's frames from the top of a traceback."""
    while tb is not None and os.path.dirname(tb.tb_frame.f_code.co_filename) == _THIS_PACKAGE:
        tb = tb.tb_next
    return tb


def exit_code(status):
    """A wait status as a shell would report it: the code, or 128+N for signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def is_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
