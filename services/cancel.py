"""Stop a streamed reply from another thread, even while a read waits for the model.

A leaf module (standard library only): services.chat and services.llm_client both need it, and
neither may import the other, or their imports would go round in a cycle.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)


class Cancel:
    """Stops a streamed reply from another thread at once, even while it waits for the model.

    Why this exists: the thread iterating `ChatService.stream` spends most of its time blocked
    in a socket read, waiting for the model's next piece. Another thread cannot close a running
    generator (Python refuses), and closing the httpx response from another thread does not
    wake a blocked `recv` on Linux. So `cancel()` sets a flag that `stream` checks, and runs the
    hooks registered with `on_cancel`: `stream` registers one that shuts the upstream socket
    down, which makes the blocked read fail at once, and so does each blocking read of an
    upstream connection made in a `cancel_scope`, also while the response headers are still
    awaited (services.llm_client). `stream` then ends quietly (no final event: nobody is
    listening), and the thread that iterates it closes it as usual.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """Set the flag and run every registered hook (once; later calls do nothing)."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            # Hooks run under the lock, so `on_cancel` cannot return (and its caller close the
            # stream, handing the connection back to the pool) while a hook is still running.
            for hook in self._hooks:
                _run_hook(hook)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True (at once) if cancelled meanwhile."""
        return self._event.wait(seconds)

    @contextlib.contextmanager
    def on_cancel(self, hook: Callable[[], None]) -> Iterator[None]:
        """Run `hook` if cancelled while inside this block (at once if cancelled already)."""
        with self._lock:
            if self._event.is_set():
                _run_hook(hook)
            self._hooks.append(hook)
        try:
            yield
        finally:
            with self._lock:
                self._hooks.remove(hook)


def _run_hook(hook: Callable[[], None]) -> None:
    try:
        hook()
    except Exception:
        log.exception("a cancel hook failed")


# The Cancel that `ChatService.stream` obeys when none is passed: set by whoever iterates the
# stream (api/sse.py's pump thread), so wrappers between the two (services/recording.py) need not
# know about it. Iterated plainly, a stream has none and runs to its end.
_current_cancel: ContextVar[Cancel | None] = ContextVar("chat_current_cancel", default=None)


def current_cancel() -> Cancel | None:
    """The Cancel set by the innermost `cancel_scope` of this thread, if any."""
    return _current_cancel.get()


@contextlib.contextmanager
def cancel_scope(cancel: Cancel) -> Iterator[Cancel]:
    """Streams iterated inside this block (in this thread) stop when `cancel` is cancelled."""
    token = _current_cancel.set(cancel)
    try:
        yield cancel
    finally:
        _current_cancel.reset(token)


def shut_down(stream: Any) -> None:
    """Shut the socket under an open upstream stream down, so a read blocked on it fails now.

    `stream` is an `openai.Stream` (anything with its `response`); taken as is so this module
    needs no SDK.

    A stream whose response is already closed is left alone: its connection may be back in the
    pool. (If it went back in the instant between the check and the shutdown, the pool finds
    the socket at EOF and discards it before any reuse.) This needs the response headers;
    while they are awaited, the socket is shut down by the hook every blocking read registers
    (see services.llm_client.CancellableStream).
    """
    response = getattr(stream, "response", None)
    if response is None or response.is_closed:
        return
    network = response.extensions.get("network_stream")
    shut_down_socket(network.get_extra_info("socket") if network is not None else None)


def shut_down_socket(sock: object) -> None:
    """`shutdown(SHUT_RDWR)` a socket, waking a `recv` blocked on it in another thread.

    `shutdown`, unlike `close`, wakes such a read (on Linux). Anything that is not a socket,
    and a socket already closed, is left alone.
    """
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # already closed
            # The plain socket's method: a TLS socket's own shutdown also drops its TLS state.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
