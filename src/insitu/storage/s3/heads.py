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

import contextlib
import logging
import os
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

# libcurl signs for AWS from 7.75, and sends the x-amz-content-sha256 header S3 requires from
# 8.1; a pycurl built against an older one leaves every file to the ordinary read.
USABLE = hasattr(pycurl, "AWS_SIGV4") and pycurl.version_info()[2] >= 0x080100
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


class _Round:
    """One caller's requests: the future resolves once every one of them has an answer. A
    caller that stopped waiting cancels it, and its requests not yet sent are dropped."""

    def __init__(self, count: int) -> None:
        self.future: Future[dict[str, bytes]] = Future()
        self.heads: dict[str, bytes] = {}
        self.left = count

    def answered(self, key: str, body: bytes | None) -> None:
        if body is not None:
            self.heads[key] = body
        self.left -= 1
        if self.left == 0 and not self.future.cancelled():
            self.future.set_result(self.heads)


@dataclass(slots=True)
class _Request:
    key: str
    url: str
    length: int
    round: _Round
    credentials: ReadOnlyCredentials
    throttle: Throttle

    def settle(self, body: bytes | None, *, transient: bool = False) -> None:
        """Give the bucket slot back and answer the round."""
        self.throttle.give_back(ok=body is not None, transient=transient)
        self.round.answered(self.key, body)


class HeadReader:
    """Ranged GETs to one endpoint and region, sent by a thread of its own once needed."""

    def __init__(self, endpoint: str | None, region: str) -> None:
        self.base = (endpoint or f"https://s3.{region}.amazonaws.com").rstrip("/")
        self.signing = f"aws:amz:{region}:s3"
        self.reported: set[str] = set()  # kinds of failure logged already, once each
        self._reset()
        _readers.add(self)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._thread: threading.Thread | None = None

    @property
    def serving(self) -> bool:
        """Whether a thread of this reader's is running now."""
        return self._thread is not None

    def submit(
        self,
        bucket: str,
        wants: Sequence[tuple[str, int]],
        credentials: ReadOnlyCredentials,
        throttle: Throttle,
    ) -> Future[dict[str, bytes]]:
        """Bytes ``[0, length)`` of each ``(key, length)`` in ``bucket``, by key, once all
        are answered; the keys it could not read are left out. Cancel the future to drop the
        requests not sent yet."""
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

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="insitu-heads", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sender: _Sender | None = None
        try:
            sender = _Sender(self)
            sender.run(self._next_requests)
        except Exception:  # never expected: the requests it holds are answered "no"
            log.exception("reading heads from %s failed", self.base)
            with self._cond:
                self._thread = None
                if self._pending:
                    self._start()
        finally:
            if sender is not None:
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
            waited_for = None  # a round seen not cancelled: its requests come one after another
            while self._pending:
                request = self._pending[0]
                if request.round is not waited_for and request.round.future.cancelled():
                    self._pending.popleft()  # nobody waits for it any more: never sent
                elif request.throttle.try_take():
                    waited_for = request.round
                    starting.append(self._pending.popleft())
                else:
                    break
            return starting

    def report(self, kind: str, detail: str) -> None:
        """Log a kind of failure (``HTTP 301``, ``curl error 60``) the first time this reader
        sees it: the files go the ordinary way, which reports each one, but a fast path that
        always fails (a private CA, a wrong region) doubles the requests and should be seen."""
        if kind not in self.reported:
            self.reported.add(kind)
            log.warning(
                "reading the first bytes of files at %s failed (%s: %s); those files are read "
                "one by one instead",
                self.base, kind, detail,
            )  # fmt: skip


class _Transfer:
    """One easy handle and what it has received for its current request."""

    def __init__(self, signing: str) -> None:
        self.curl = pycurl.Curl()
        self.request: _Request | None = None
        self.credentials: ReadOnlyCredentials | None = None  # those the handle signs with
        self.chunks: list[bytes] = []
        self.received = 0
        curl = self.curl
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.FOLLOWLOCATION, 0)
        curl.setopt(pycurl.CAINFO, os.environ.get("AWS_CA_BUNDLE") or certifi.where())
        curl.setopt(pycurl.CONNECTTIMEOUT, 5)
        curl.setopt(pycurl.TIMEOUT, 30)
        curl.setopt(pycurl.AWS_SIGV4, signing)
        curl.setopt(pycurl.WRITEFUNCTION, self._write)

    def start(self, request: _Request) -> None:
        self.request, self.chunks, self.received = request, [], 0
        curl = self.curl
        curl.setopt(pycurl.URL, request.url)
        curl.setopt(pycurl.RANGE, f"0-{request.length - 1}")
        credentials = request.credentials
        if credentials != self.credentials:  # the same for most requests: set once
            self.credentials = credentials
            curl.setopt(pycurl.USERNAME, credentials.access_key)
            curl.setopt(pycurl.PASSWORD, credentials.secret_key)
            token = credentials.token
            if token:
                curl.setopt(pycurl.HTTPHEADER, [f"x-amz-security-token: {token}"])
            else:  # an empty list would leave the previous credentials' token in place
                curl.unsetopt(pycurl.HTTPHEADER)

    def _write(self, data: bytes) -> int | None:
        self.chunks.append(data)
        self.received += len(data)
        # A short count aborts the transfer: more than was asked for (Range ignored).
        assert self.request is not None
        return None if self.received <= self.request.length else 0

    def answer(self, request: _Request, status: int) -> bytes | None:
        """The wanted bytes, if the answer was a 206 of exactly them."""
        if status == 206 and self.received == request.length:
            return b"".join(self.chunks)
        return None


class _Sender:
    """One multi handle driving every transfer in flight, from the reader's thread."""

    def __init__(self, reader: HeadReader) -> None:
        self.reader = reader
        self.multi = pycurl.CurlMulti()
        self.idle: list[_Transfer] = []
        self.active: dict[pycurl.Curl, _Transfer] = {}

    def run(self, take: Callable[[bool], list[_Request] | None]) -> None:
        """Send what ``take`` gives (it waits for work when nothing is in flight) until it
        gives None."""
        multi = self.multi
        while True:
            starting = take(not self.active)
            if starting is None:
                return
            for request in starting:
                self._send(request)
            if not self.active:
                time.sleep(_NO_SLOT_WAIT)
                continue
            while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            while True:
                queued, ok, failed = multi.info_read()
                for curl in ok:
                    self._finished(curl, None, "")
                for curl, errno, message in failed:
                    self._finished(curl, errno, message)
                if not queued:
                    break
            if self.active:
                multi.select(_POLL)

    def _send(self, request: _Request) -> None:
        """Start ``request``, or answer it "no" at once: it holds a slot until answered."""
        try:
            transfer = self.idle.pop() if self.idle else _Transfer(self.reader.signing)
            transfer.start(request)
            self.multi.add_handle(transfer.curl)
        except Exception as exc:  # the request is answered "no": read the ordinary way
            self.reader.report(type(exc).__name__, str(exc))
            request.settle(None)
            return
        self.active[transfer.curl] = transfer

    def _finished(self, curl: pycurl.Curl, errno: int | None, message: str) -> None:
        transfer = self.active.pop(curl)
        request = transfer.request
        assert request is not None
        transfer.request = None
        body, transient = None, False
        try:
            self.multi.remove_handle(curl)
            status = curl.getinfo(pycurl.RESPONSE_CODE)
            if errno is None:
                body = transfer.answer(request, status)
            transient = errno in _TRANSIENT_ERRORS or status == 429 or status >= 500
            if body is None and not transient and status not in (403, 404):
                # The ordinary read words 403, 404 and a busy store itself.
                kind = f"curl error {errno}" if errno is not None else f"HTTP {status}"
                detail = message or f"{transfer.received} bytes for {request.length} asked"
                self.reader.report(kind, detail)
            transfer.chunks = []
            self.idle.append(transfer)
        finally:
            request.settle(body, transient=transient)

    def close(self) -> None:
        """Answer whatever is still in flight "no" and let go of every handle."""
        for curl, transfer in self.active.items():
            with contextlib.suppress(pycurl.error):
                self.multi.remove_handle(curl)
            if transfer.request is not None:
                transfer.request.settle(None)
            curl.close()
        self.active.clear()
        self.multi.close()
        for transfer in self.idle:
            transfer.curl.close()


_readers: weakref.WeakSet[HeadReader] = weakref.WeakSet()


def _forget_in_child() -> None:
    for reader in list(_readers):
        reader._reset()  # a forked child has none of its parent's threads or handles


os.register_at_fork(after_in_child=_forget_in_child)
