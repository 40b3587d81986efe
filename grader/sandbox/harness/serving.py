"""Serving the grader's calls inside a session: receive a request, run its task, send the reply.

A reply is a ``wire`` frame, never pickle. An exception of the learner's code becomes an error record
(its type, a message bounded to ``MESSAGE_CHARS``, and the learner's file and line where it was
raised), so nothing the learner's code raises reaches the grader as anything but data.
"""

import socket
import sys
import traceback
from pathlib import Path

from . import operator_tripwires, tasks, wire
from .wire import CALL_ID

MESSAGE_CHARS = 2000


def serve(channel: socket.socket, load, scratch: Path) -> None:
    """Answer calls until the grader closes the channel; ``load()`` imports the submission, at the first
    call."""
    package = None
    while True:
        try:
            tag, request = receive(channel)
        except (EOFError, OSError, wire.WireError):
            return
        if tag == wire.TAG_CALL:
            package = package or load()
            reply = _run(request, package, scratch)
        else:
            reply = _protocol(f"unexpected {tag!r}")
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except BaseException:
                pass
        channel.sendall(reply)


def _run(request, package: tasks.Package, scratch: Path) -> bytes:
    """Run one task and return the reply frame: its value, or what went wrong, tagged with the request's
    id."""
    if (
        type(request) is not dict
        or request.get("task") not in tasks.TASKS
        or type(request.get("payload")) is not dict
    ):
        return _protocol(f"no such task or no payload: {str(request)[:80]}")
    call_id = request.get(CALL_ID)
    try:
        value = tasks.TASKS[request["task"]](package, request["payload"])
        # Tasks return dicts; the id rides along at the top so paths in encoding errors stay the task's own.
        return wire.pack_frame(
            wire.TAG_VALUE,
            {**value, CALL_ID: call_id} if type(value) is dict else {"value": value, CALL_ID: call_id},
        )
    except tasks.MissingPart as error:
        return wire.pack_frame(wire.TAG_FAIL, {CALL_ID: call_id, "kind": "missing", "message": str(error)})
    except wire.WireError as error:
        return _protocol(str(error), call_id)
    except BaseException as error:
        record = {CALL_ID: call_id, **_error_record(error, scratch)}
        # A forbidden built-in refuses to run here: the call that reached it fails, and says so.
        forbidden = operator_tripwires.take_notes()
        if forbidden:
            record["forbidden"] = forbidden
        return wire.pack_frame(wire.TAG_FAIL, record)


def _protocol(message: str, call_id=None) -> bytes:
    return wire.pack_frame(wire.TAG_FAIL, {CALL_ID: call_id, "kind": "protocol", "message": message})


def _error_record(error: BaseException, scratch: Path) -> dict:
    file, line = _locate(error, scratch)
    return {
        "kind": "exception",
        "type": type(error).__name__[:100],
        "message": _text_of(error)[:MESSAGE_CHARS],
        "file": file,
        "line": line,
        "not_implemented": isinstance(error, NotImplementedError),
        "memory": _is_out_of_memory(error),
    }


def _locate(error: BaseException, scratch: Path) -> tuple[str | None, int | None]:
    """The innermost traceback line inside the learner's files, as (file, line); (None, None) if none is.

    An error outside them (the harness's backward over a result of the wrong shape, say) gets no
    location: naming the grader's own files would point the learner at code they cannot see.
    """
    if isinstance(error, SyntaxError) and error.filename and Path(error.filename).parent == scratch:
        return Path(error.filename).name, error.lineno
    frames = [(frame.f_code.co_filename, line) for frame, line in traceback.walk_tb(error.__traceback__)]
    for filename, line in reversed(frames):
        if Path(filename).parent == scratch:
            return Path(filename).name, line
    return None, None


def _text_of(error: BaseException) -> str:
    try:
        return str(error)
    except BaseException:
        return f"<{type(error).__name__} whose message cannot be printed>"


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    text = _text_of(error) if isinstance(error, RuntimeError) else ""
    return any(
        sign in text for sign in ("can't allocate memory", "Cannot allocate memory", "not enough memory")
    )


def receive(channel: socket.socket) -> tuple[bytes, object]:
    tag, length = wire.FRAME.unpack(_receive_exactly(channel, wire.FRAME.size))
    if length > wire.MAX_MESSAGE_BYTES:
        raise wire.WireError(f"frame of {length} bytes is too large")
    return tag, wire.decode(_receive_exactly(channel, length))


def _receive_exactly(channel: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = channel.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the grader closed the channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
