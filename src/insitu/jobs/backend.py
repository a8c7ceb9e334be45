"""The job backend seam: domain code enqueues, a backend delivers."""

from __future__ import annotations

import json
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

from insitu.errors import QueueUnreachable


class JobBackend(Protocol):
    def send(self, name: str, args: dict[str, Any]) -> None:
        """Deliver one task to a worker; returns once it is safely queued."""
        ...

    def send_later(self, name: str, args: dict[str, Any], delay: float) -> None:
        """Deliver one task to run no sooner than ``delay`` seconds from now."""
        ...

    def waiting(self) -> int | None:
        """Tasks queued that no worker has taken yet; None when the queue cannot say."""
        ...

    def shutdown(self) -> None: ...


_backend: JobBackend | None = None


def get_backend() -> JobBackend:
    global _backend
    if _backend is None:
        from insitu.config import get_settings

        _backend = _make_backend(get_settings().job_backend)
    return _backend


def set_backend(backend: JobBackend | None) -> JobBackend | None:
    """Swap the backend (tests, the CLI's foreground mode); returns the previous one."""
    global _backend
    previous, _backend = _backend, backend
    return previous


def _make_backend(kind: str) -> JobBackend:
    if kind == "celery":
        from insitu.jobs.celery_backend import CeleryBackend

        return CeleryBackend()
    from insitu.jobs.inline import InlineBackend

    return InlineBackend()


def enqueue(session: Session | None, name: str, **args: Any) -> None:
    """Queue task ``name`` with JSON ``args`` once ``session`` commits (at once if None).

    Waiting for the commit means a worker never looks for rows that are not there yet, and a
    rolled-back request queues nothing.
    """
    enqueue_in(session, 0, name, **args)


def enqueue_in(session: Session | None, delay: float, name: str, **args: Any) -> None:
    """:func:`enqueue`, to run no sooner than ``delay`` seconds after the commit."""
    json.dumps(args)  # refuse non-JSON arguments here, not in a worker later

    def _send() -> None:
        if delay > 0:
            get_backend().send_later(name, args, delay)
        else:
            get_backend().send(name, args)

    def _send_committed(_session: Session) -> None:
        try:
            _send()
        except Exception as exc:
            work = " ".join([name, *(f"{key}={value}" for key, value in args.items())])
            raise QueueUnreachable(
                f"the change was saved, but the job queue did not take its work ({work}): {exc}",
                fix="make the broker that INSITU_CELERY_BROKER_URL names reachable (is Redis "
                "running?). Do not repeat the change: it is kept, and its work is sent again "
                "once the queue answers (imports by the import sweep, a reconcile when it is "
                "asked for again or its schedule comes)",
            ) from exc

    if session is None:
        _send()
        return
    event.listen(session, "after_commit", _send_committed, once=True)
