"""The three channels between the grader and one sandbox session, with deadlines on every read.

Requests and replies travel on a socket as length-prefixed ``grader.sandbox.harness.wire`` frames;
a reply larger than the session's bound is refused from its header, unread. What the learner's code
prints comes back on a pipe and is kept up to a bound; the rest is counted. The status socket carries
the session's report of its protections, and its end tells the grader the session is gone.
"""

import os
import select
import socket
import time

from grader.sandbox.harness import wire


class ChannelTimeout(Exception):
    pass


class ChannelClosed(Exception):
    pass


class FrameSocket:
    """One end of a socket, read and written frame by frame, each wait bounded by a deadline."""

    def __init__(self, sock: socket.socket, output: "OutputPipe | None" = None):
        self.sock = sock
        self.output = output
        self.buffer = bytearray()
        self.limit = wire.MAX_MESSAGE_BYTES

    def send(self, data: bytes, deadline: float) -> None:
        try:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))  # raises too once closed
            self.sock.sendall(data)
        except TimeoutError:
            raise ChannelTimeout from None
        except OSError:
            raise ChannelClosed from None

    def receive(self, tags: set[bytes], deadline: float) -> tuple[bytes, object]:
        """The next frame, decoded; WireError if it is malformed or not one of ``tags``."""
        while True:
            frame = self._buffered_frame(tags)
            if frame is not None:
                return frame
            self._wait_for_bytes(deadline)

    def _buffered_frame(self, tags: set[bytes]):
        if len(self.buffer) < wire.FRAME.size:
            return None
        tag, length = wire.FRAME.unpack_from(self.buffer)
        if tag not in tags:
            raise wire.WireError(f"unexpected frame {tag!r} of {length} bytes")
        if length > self.limit:  # refused from its header, before a byte of it is read
            raise wire.WireError(
                f"a reply of {length / 2**20:.0f} MB; the limit is {self.limit / 2**20:.0f} MB"
            )
        end = wire.FRAME.size + length
        if len(self.buffer) < end:
            return None
        with memoryview(self.buffer) as view:  # decoded in place: the reply is held once, not three times
            value = wire.decode(view[wire.FRAME.size : end], max_bytes=self.limit)
        try:
            del self.buffer[:end]
        except BufferError:  # a view of it outlived the decoding (in a traceback, say)
            self.buffer = bytearray(self.buffer[end:])
        return tag, value

    def _wait_for_bytes(self, deadline: float) -> None:
        fd = self.sock.fileno()  # once closed (by another thread), the socket's fileno() is -1
        if fd < 0:
            raise ChannelClosed
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if self.output is not None and not self.output.finished:
            poller.register(self.output.fd, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout
            ready = dict(poller.poll(remaining * 1000))
            if self.output is not None and self.output.fd in ready and not self.output.drain():
                poller.unregister(self.output.fd)
            if ready.get(fd, 0) & select.POLLNVAL:
                raise ChannelClosed
            if fd in ready:
                break
        try:
            self.sock.settimeout(0)  # raises too if another thread has closed the socket since the poll
            chunk = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            raise ChannelClosed from None
        if not chunk:
            raise ChannelClosed
        self.buffer += chunk


class OutputPipe:
    """The read end of a session's stdout/stderr pipe: keeps the first ``limit`` bytes of each call."""

    def __init__(self, fd: int):
        os.set_blocking(fd, False)
        self.fd = fd
        self.limit = 0
        self.kept = bytearray()
        self.dropped = 0
        self.finished = False

    def drain(self) -> bool:
        """Read what is waiting, up to 4 MB so that endless printing cannot starve the deadline
        checks; False once every writer has gone."""
        for _ in range(64):
            if self.finished:
                return False
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return True
            except OSError:
                chunk = b""
            if not chunk:
                self.finished = True
                return False
            room = max(self.limit - len(self.kept), 0)
            self.kept += chunk[:room]
            self.dropped += len(chunk) - min(room, len(chunk))
        return True

    def take(self) -> str:
        self.drain()
        text = self.kept.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes of output not shown]"
        self.kept, self.dropped = bytearray(), 0
        return text


class Channels:
    """The grader's ends of a session's channel, supervisor socket and output pipe (and, until
    they are handed to the zygote, the sandbox's ends)."""

    def __init__(self):
        channel, child_channel = socket.socketpair()
        status, child_status = socket.socketpair()
        output_read, output_write = os.pipe()
        self.output = OutputPipe(output_read)
        self.channel = FrameSocket(channel, self.output)
        self.status = FrameSocket(status)
        self.child_fds = [child_channel.detach(), child_status.detach(), output_write]

    def close_child_ends(self) -> None:
        for fd in self.child_fds:
            os.close(fd)
        self.child_fds = []

    def close(self) -> None:
        self.close_child_ends()
        self.output.finished = True  # its descriptor number may be reused at once
        for sock in (self.channel.sock, self.status.sock):
            # Wakes a thread waiting on it (closing alone does not end a poll already under way): a
            # session stopped while it starts must not hold its worker until the start deadline.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        os.close(self.output.fd)
