"""Concurrency groups: at most one running and one pending run or job per group.

Reproduces GitHub's documented ``concurrency`` semantics for workflows and jobs:

* A group admits one *running* holder. A newcomer to a busy group becomes *pending*; a group
  keeps only one pending holder, so the newcomer replaces an older pending one, which is
  cancelled ("Canceling since a higher priority waiting request for '<group>' exists").
* With ``cancel-in-progress: true`` the newcomer also cancels the running holder; it still
  waits (pending) until that holder has actually stopped and released the group.
* When the running holder releases the group, the pending one (if any) starts.
* Group names compare case-insensitively, as on GitHub (``prod`` and ``Prod`` are one group).

Design
------
Nothing here blocks. :meth:`ConcurrencyGroups.request` returns a :class:`Ticket` at once; the
owner learns about changes through the ticket's ``notify`` callback, called (outside the
lock) when the ticket starts running or is cancelled, from whichever thread caused it. The
orchestrator's callback only puts an event on its own queue, so a job waiting for a group never
holds a worker thread. One ``ConcurrencyGroups`` is owned by whoever starts runs (the CLI or the
platform) and shared by every run it starts, so groups work across runs of one process.
Cancelling a holder means calling the ``cancel`` function it registered (its Cancellation), so
a cancelled running run or job stops the way any cancelled run or job stops.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ConcurrencyGroups", "Ticket", "TicketState", "replaced_reason"]

TicketState = Literal["running", "pending", "cancelled", "released"]


def replaced_reason(group: str) -> str:
    """The message GitHub shows on a run or job cancelled by a newer one in ``group``."""
    return f"Canceling since a higher priority waiting request for '{group}' exists"


@dataclass(eq=False)
class Ticket:
    """One run's or job's place in a group."""

    group: str
    label: str
    cancel: Callable[[str], None]
    notify: Callable[[Ticket], None]
    state: TicketState = "pending"
    reason: str = ""
    _slot: str = field(default="", repr=False)


@dataclass
class _Group:
    running: Ticket | None = None
    pending: Ticket | None = None


class ConcurrencyGroups:
    """The concurrency groups of every run started by one process; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[str, _Group] = {}

    def request(
        self,
        group: str,
        *,
        label: str,
        cancel_in_progress: bool,
        cancel: Callable[[str], None],
        notify: Callable[[Ticket], None],
    ) -> Ticket:
        """Enter ``group``: running at once if it is free, else pending.

        ``cancel(reason)`` stops the holder (its Cancellation); ``notify(ticket)`` is called
        when the ticket later starts running or is cancelled while pending. A ticket that is
        running on return is not notified for that.
        """
        ticket = Ticket(group, label, cancel, notify)
        ticket._slot = group.casefold()
        to_cancel: list[tuple[Ticket, str]] = []
        with self._lock:
            slot = self._groups.setdefault(ticket._slot, _Group())
            if slot.running is None:
                slot.running = ticket
                ticket.state = "running"
                return ticket
            reason = replaced_reason(group)
            if slot.pending is not None:
                old = slot.pending
                old.state, old.reason = "cancelled", reason
                to_cancel.append((old, reason))
            slot.pending = ticket
            if cancel_in_progress:
                to_cancel.append((slot.running, reason))
        for holder, why in to_cancel:
            holder.cancel(why)
            if holder.state == "cancelled":
                holder.notify(holder)
        return ticket

    def release(self, ticket: Ticket) -> None:
        """Leave the group (finished, or withdrawn while pending); starts the pending one."""
        started: Ticket | None = None
        with self._lock:
            slot = self._groups.get(ticket._slot)
            if ticket.state in ("released", "cancelled") or slot is None:
                ticket.state = "released"
                return
            if slot.pending is ticket:
                slot.pending = None
            elif slot.running is ticket:
                slot.running, slot.pending = slot.pending, None
                started = slot.running
                if started is not None:
                    started.state = "running"
            ticket.state = "released"
            if slot.running is None and slot.pending is None:
                del self._groups[ticket._slot]
        if started is not None:
            started.notify(started)

    def holders(self, group: str) -> tuple[str | None, str | None]:
        """The labels of the running and pending holders of ``group`` (for tests and views)."""
        with self._lock:
            slot = self._groups.get(group.casefold())
            if slot is None:
                return None, None
            running = slot.running.label if slot.running else None
            pending = slot.pending.label if slot.pending else None
            return running, pending
