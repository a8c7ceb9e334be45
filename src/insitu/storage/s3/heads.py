"""The first bytes of many objects, sent from one thread by libcurl's multi interface.

An import probes each file from its first few KiB. One ranged GET per file from a pool of
threads costs a thread wake-up and a GIL hand-off for every answer, which at hundreds of
requests in flight is most of a worker's CPU. Here one thread of the process sends them all:
libcurl signs them (SigV4) in C and hands back only the answers, and batches submitted while
others are still in flight share its connections, so a worker's requests never pause between
batches.

This is a fast path and nothing more: whatever it cannot fetch cleanly (an error status, a
timeout, a key that would need escaping in the URL) is left out, and the caller reads those
files the ordinary way, which maps each error, retries and backs off. Every request takes a
slot of its bucket's ``Throttle`` and reports how it went, so a store that says "slow down"
gets fewer requests from both paths. It sends requests only where obstore may (AWS, or the
operator's endpoint: never a customer's), follows no redirect and speaks only HTTP(S).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import certifi
import pycurl
from botocore.credentials import ReadOnlyCredentials

from insitu.storage.throttle import Throttle

log = logging.getLogger(__name__)

# Keys that stand in a URL path as they are: nothing to escape, so the path libcurl signs is
# exactly the key S3 resolves. Other keys (spaces, "+", non-ASCII) go the ordinary way.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9._~/-]+")
_SIZE_SLACK = 64 * 1024  # a store ignoring Range sends the whole object: read on only this far
# Failures that say the store or the network is busy, not that the request is wrong.
_TRANSIENT_ERRORS = frozenset(
    {
        pycurl.E_OPERATION_TIMEDOUT,
        pycurl.E_COULDNT_CONNECT,
        pycurl.E_SEND_ERROR,
        pycurl.E_RECV_ERROR,
        pycurl.E_GOT_NOTHING,
    }
)
_NO_SLOT_WAIT = 0.01  # every slot of the bucket is someone else's: look again this soon
_POLL = 0.005  # the longest new requests wait while others are in flight
IDLE_EXIT = 60.0  # a reader's thread ends after this long without a request


def plain_key(key: str) -> bool:
    return _PLAIN_KEY.fullmatch(key) is not None


class _Round:
    """One caller's requests: the future resolves once every one of them has an answer."""

    def __init__(self, count: int) -> None:
        self.future: Future[dict[str, bytes]] = Future()
        self.heads: dict[str, bytes] = {}
        self.left = count

    def answered(self, key: str, body: bytes | None) -> None:
        if body is not None:
            self.heads[key] = body
        self.left -= 1
        if self.left == 0:
            self.future.set_result(self.heads)


@dataclass(slots=True)
class _Request:
    key: str
    url: str
    length: int
    round: _Round
    credentials: ReadOnlyCredentials
    throttle: Throttle


class HeadReader:
    """Ranged GETs to one endpoint and region, sent by a thread of its own once needed."""

    def __init__(self, endpoint: str | None, region: str) -> None:
        self.base = (endpoint or f"https://s3.{region}.amazonaws.com").rstrip("/")
        self.signing = f"aws:amz:{region}:s3"
        self._reset()
        _readers.add(self)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._thread: threading.Thread | None = None

    def submit(
        self,
        bucket: str,
        wants: Sequence[tuple[str, int]],
        credentials: ReadOnlyCredentials,
        throttle: Throttle,
    ) -> Future[dict[str, bytes]]:
        """Bytes ``[0, length)`` of each ``(key, length)`` in ``bucket``, by key, once all
        are answered; the keys it could not read are left out."""
        batch = _Round(len(wants))
        if not wants:
            batch.future.set_result({})
            return batch.future
        requests = [
            _Request(key, f"{self.base}/{bucket}/{key}", length, batch, credentials, throttle)
            for key, length in wants
        ]
        with self._cond:
            self._pending.extend(requests)
            self._cond.notify()
            if self._thread is None:
                self._start()
        return batch.future

    @property
    def serving(self) -> bool:
        """Whether a thread of this reader's is running now."""
        return self._thread is not None

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="insitu-heads", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sender = _Sender(self.signing)
        try:
            sender.run(self._next_requests)
        except Exception:  # never expected: the requests in flight are answered "no"
            log.exception("reading heads from %s failed", self.base)
            sender.abandon()
            with self._cond:
                self._thread = None
                if self._pending:
                    self._start()
        finally:
            sender.close()

    def _next_requests(self, idle: bool) -> list[_Request] | None:
        """Requests to start now, one bucket slot each. With nothing in flight it waits for
        some, and gives None after ``IDLE_EXIT`` without any: the thread then ends (a store
        no longer used keeps no thread), and the next ``submit`` starts another."""
        with self._cond:
            if idle and not self._pending:
                self._cond.wait(IDLE_EXIT)
                if not self._pending:
                    self._thread = None
                    return None
            starting: list[_Request] = []
            while self._pending and self._pending[0].throttle.try_take():
                starting.append(self._pending.popleft())
            return starting


class _Transfer:
    """One easy handle and what it has received for its current request."""

    def __init__(self, signing: str) -> None:
        self.curl = pycurl.Curl()
        self.request: _Request | None = None
        self.chunks: list[bytes] = []
        self.received = 0
        curl = self.curl
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.FOLLOWLOCATION, 0)
        curl.setopt(pycurl.CAINFO, certifi.where())
        curl.setopt(pycurl.CONNECTTIMEOUT, 5)
        curl.setopt(pycurl.TIMEOUT, 30)
        curl.setopt(pycurl.AWS_SIGV4, signing)
        curl.setopt(pycurl.WRITEFUNCTION, self._write)

    def start(self, request: _Request) -> None:
        self.request, self.chunks, self.received = request, [], 0
        credentials = request.credentials
        curl = self.curl
        curl.setopt(pycurl.URL, request.url)
        curl.setopt(pycurl.RANGE, f"0-{request.length - 1}")
        curl.setopt(pycurl.USERNAME, credentials.access_key)
        curl.setopt(pycurl.PASSWORD, credentials.secret_key)
        token = credentials.token
        curl.setopt(pycurl.HTTPHEADER, [f"x-amz-security-token: {token}"] if token else [])

    def _write(self, data: bytes) -> int | None:
        self.chunks.append(data)
        self.received += len(data)
        # A short count aborts the transfer: a store that ignored Range sends everything.
        assert self.request is not None
        return None if self.received <= self.request.length + _SIZE_SLACK else 0

    def finish(self, errno: int | None) -> None:
        """Answer the request (bytes, or None) and give its bucket slot back."""
        request = self.request
        assert request is not None
        body = None
        transient = errno in _TRANSIENT_ERRORS
        if errno is None:
            status = self.curl.getinfo(pycurl.RESPONSE_CODE)
            data = b"".join(self.chunks)
            if status == 206 and len(data) == request.length:
                body = data
            elif status == 200 and len(data) >= request.length:
                body = data[: request.length]
            transient = status == 429 or status >= 500  # "slow down", or a 5xx
        request.throttle.give_back(ok=body is not None, transient=transient)
        self.request, self.chunks = None, []
        request.round.answered(request.key, body)


class _Sender:
    """One multi handle driving every transfer in flight, from the reader's thread."""

    def __init__(self, signing: str) -> None:
        self.signing = signing
        self.multi = pycurl.CurlMulti()
        self.idle: list[_Transfer] = []
        self.active: dict[int, _Transfer] = {}

    def run(self, take: Callable[[bool], list[_Request] | None]) -> None:
        """Send what ``take`` gives (it waits for work when nothing is in flight) until it
        gives None."""
        multi = self.multi
        while True:
            starting = take(not self.active)
            if starting is None:
                return
            for request in starting:
                transfer = self.idle.pop() if self.idle else _Transfer(self.signing)
                transfer.start(request)
                multi.add_handle(transfer.curl)
                self.active[id(transfer.curl)] = transfer
            if not self.active:
                time.sleep(_NO_SLOT_WAIT)
                continue
            while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            while True:
                queued, ok, failed = multi.info_read()
                for curl in ok:
                    self._finished(curl, None)
                for curl, errno, _ in failed:
                    self._finished(curl, errno)
                if not queued:
                    break
            if self.active:
                multi.select(_POLL)

    def _finished(self, curl: pycurl.Curl, errno: int | None) -> None:
        transfer = self.active.pop(id(curl))
        self.multi.remove_handle(curl)
        transfer.finish(errno)
        self.idle.append(transfer)

    def abandon(self) -> None:
        for transfer in self.active.values():
            if transfer.request is not None:
                transfer.finish(pycurl.E_ABORTED_BY_CALLBACK)
        self.active.clear()

    def close(self) -> None:
        self.multi.close()
        for transfer in self.idle:
            transfer.curl.close()


_readers: weakref.WeakSet[HeadReader] = weakref.WeakSet()


def _forget_in_child() -> None:
    for reader in list(_readers):
        reader._reset()  # a forked child has none of its parent's threads or handles


os.register_at_fork(after_in_child=_forget_in_child)
