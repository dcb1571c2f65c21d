"""Writers of one index, in the order they arrived, with a bounded queue and a bounded wait.

Within a process, writes (uploads, deletes, ingests) take turns first come, first served; across
processes the index's file lock (store.writer_lock) still serialises them. A write that finds the queue
full is refused with IndexBusy, and one that waits past its timeout with WriteTimedOut, rather than left
hanging (the HTTP API takes such an upload as a background job).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from rag.errors import IndexBusy, WriteTimedOut


class Ticket:
    """A place in the queue, taken when a write is accepted and released when it has run."""


class WriterQueue:
    def __init__(self, max_waiting: int, timeout: float) -> None:
        self.max_waiting = max_waiting
        self.timeout = timeout
        self._cond = threading.Condition()
        self._queue: deque[Ticket] = deque()
        self._busy = False

    def reserve(self, bounded: bool = True) -> Ticket:
        """A place at the end of the queue; raises IndexBusy when max_waiting writes already wait (unless
        not bounded: a job accepted before a restart keeps the place it was given)."""
        with self._cond:
            if bounded and len(self._queue) >= self.max_waiting:
                raise IndexBusy(
                    f"{len(self._queue)} writes are already waiting for the index: retry later",
                    self._retry_after(),
                )
            ticket = Ticket()
            self._queue.append(ticket)
            return ticket

    @contextmanager
    def hold(self, ticket: Ticket, timeout: float | None) -> Iterator[None]:
        """Wait until the ticket is first and no write runs (at most timeout seconds; None: no limit)."""
        with self._cond:
            ready = self._cond.wait_for(lambda: not self._busy and self._queue[0] is ticket, timeout)
            self._queue.remove(ticket)
            if not ready:
                self._cond.notify_all()
                raise WriteTimedOut(
                    f"waited {timeout:g} s for the writes before this one: retry later", self._retry_after()
                )
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Queue, wait at most `timeout` seconds, then write alone."""
        with self.hold(self.reserve(), self.timeout):
            yield

    def _retry_after(self) -> int:
        return max(1, round(self.timeout))
