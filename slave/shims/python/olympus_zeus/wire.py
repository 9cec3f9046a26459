"""Wire helpers: NUL-terminated text messages and file descriptors (SCM_RIGHTS).

Every message is UTF-8 text followed by one NUL byte. A message that carries a
file descriptor has the payload b"\\0" and nothing else; the agent reads that
empty message as "an fd arrived".
"""

import os
import select
import socket
import time
from collections import deque

NUL = b"\0"

# One datagram must fit the agent's receive buffer; long tracebacks are cut.
MAX_TEXT = 60_000


def encode(text):
    """Encode a message body; paths may hold undecodable bytes (surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


def send_text(sock, text):
    """Send one message. On a SOCK_DGRAM socket it is exactly one datagram."""
    sock.sendall(encode(text) + NUL)


def send_fd(sock, fd):
    """Send one fd with the payload b"\\0"."""
    socket.send_fds(sock, [NUL], [fd])


class Inbox:
    """Reads text messages and fds from a socket, in order, stream or datagram.

    Empty messages (the payload of an fd message) are dropped; fds are queued
    separately in arrival order. That is enough for our strictly ordered
    handshakes, and it copes with a stream socket that hands text and the
    following fd back in one recvmsg.
    """

    def __init__(self, sock):
        self.sock = sock
        self.stream = sock.type == socket.SOCK_STREAM
        self.buffer = b""
        self.messages = deque()
        self.fds = deque()

    def fill(self, timeout=None):
        """Read once. Returns False on EOF or error, True otherwise (also on timeout)."""
        if timeout is not None:
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if not readable:
                return True
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, 65536, 16)
        except OSError:
            return False
        self.fds.extend(fds)
        if not data and not fds and self.stream:
            return False
        self.buffer += data
        *complete, self.buffer = self.buffer.split(NUL)
        self.messages.extend(m.decode("utf-8", "surrogateescape") for m in complete if m)
        return True

    def next_message(self, deadline):
        return self._next(self.messages, deadline, "message")

    def next_fd(self, deadline):
        return self._next(self.fds, deadline, "file descriptor")

    def _next(self, queue, deadline, what):
        """Read until `queue` has an entry, then take it; EOFError at the deadline or the socket's end."""
        while not queue:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.fill(remaining):
                raise EOFError(f"no {what} from the agent")
        return queue.popleft()

    def close_fds(self):
        while self.fds:
            os.close(self.fds.popleft())
