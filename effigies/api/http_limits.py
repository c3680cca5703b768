"""uvicorn's httptools protocol with limits on what a client may send before the app sees it.

httptools (llhttp) has no limit on a request's head, and uvicorn none on how long it may take:
a 64 MB header was read to the end (11 s, +90 MB, other requests stalled: httptools grows the
value by concatenation), and a client sending half its headers held its connection forever.
No uvicorn setting covers either (h11_max_incomplete_event_size is for the slower h11 parser
only), so `effigies api` (effigies.api.server) serves every connection with this class:

- request line ≤ 16 KB (else 414), each header ≤ 16 KB and the whole head ≤ 64 KB (else 431),
  refused as soon as the bytes received say so, not when the head ends;
- the head must arrive within EE_HTTP_HEADER_TIMEOUT_S of the connection or of its first byte
  (else 408; a connection that sent nothing is just closed);
- a body must bring BODY_MIN_BYTES_PER_S on average over every EE_HTTP_BODY_TIMEOUT_S window
  while the server is reading it (else 408): Apache's mod_reqtimeout MinRate, so a 200 MB
  theme upload on a slow line passes and a trickle does not.

Every refusal is JSON {"error": {"code", "message"}}, then a lingering close: the answer is sent,
our side shut, and what the client still sends is read and dropped for up to LINGER_S, so it
reads the answer instead of a connection reset.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from effigies.config import get_settings

MAX_LINE_BYTES = 16 * 1024  # the request line, and each header (name and value)
MAX_HEAD_BYTES = 64 * 1024  # the request line and every header together
BODY_MIN_BYTES_PER_S = 500  # mod_reqtimeout's default MinRate
LINGER_S = 5.0

log = logging.getLogger("uvicorn.error")

HEADER_TOO_LARGE = (431, "request_header_too_large", "A header of this request is too large (16 KB at most).")
HEAD_TOO_LARGE = (431, "request_header_too_large", "The headers of this request are too large (64 KB in all).")
URL_TOO_LONG = (414, "uri_too_long", "The address of this request is too long (16 KB at most).")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """The checks run per chunk received, in data_received, and arm a timer only for a head or a
    body that did not arrive in one chunk: a request that does costs two attribute tests more."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.header_timeout = settings.http_header_timeout_s
        self.body_timeout = settings.http_body_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._received = 0  # bytes, this connection's whole life
        self._body_mark = 0  # _received when the current body window began
        self._chunk = 0  # length of the chunk being parsed
        self._refusal: tuple[int, str, str] | None = None  # set by a callback that stops the parser
        self._refused = False
        self._head_id = 0  # which head the counters below are for
        self._new_head()

    def _new_head(self) -> None:
        """The next bytes are a request's head: count them from zero."""
        self._in_head = True
        self._head_id += 1
        self._head_started = False  # a byte of it has arrived (on_message_begin)
        self._head_bytes = 0  # raw bytes of the chunks that held nothing else
        self._head_uncounted = False  # it began inside a chunk: the bytes above miss some
        self._line_bytes = 0  # the line still in progress at the end of the last chunk

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn has no timeout before the first request: a connection that sends nothing stays.
        self._header_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, but a refusal is answered in JSON and is not logged as a broken request.
        if self._refused:
            return  # lingering close: read and dropped
        self._received += len(data)
        self._unset_keepalive_if_required()
        head_id, self._chunk = self._head_id, len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refusal is None:
                log.warning("Invalid HTTP request received.")
            self._refuse(*(self._refusal or (400, "bad_request", "Invalid HTTP request received.")))
            return
        if not self._in_head:  # a body is on its way
            if self._body_timer is None:
                self._body_mark = self._received
                self._body_timer = self.loop.call_later(self.body_timeout, self._check_body_rate)
        elif self._head_started:  # a head has begun and not ended
            if self._header_timer is None:  # a kept-alive connection's next request
                self._header_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)
            if self._head_id != head_id:
                self._head_uncounted = True
                return
            # The whole chunk is head. httptools holds a header back until it ends (that 64 MB
            # one, whole): the raw bytes tell how large it is so far.
            self._head_bytes += len(data)
            if len(self.url) > MAX_LINE_BYTES:
                self._refuse(*URL_TOO_LONG)
            elif self._longest_line(data) > MAX_LINE_BYTES:
                self._refuse(*HEADER_TOO_LARGE)
            elif self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(*HEAD_TOO_LARGE)

    def _longest_line(self, data: bytes) -> int:
        longest, start = 0, 0
        while (end := data.find(b"\n", start)) >= 0:
            longest = max(longest, self._line_bytes + end - start)
            self._line_bytes, start = 0, end + 1
        self._line_bytes += len(data) - start
        return max(longest, self._line_bytes)

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "bad_request", msg)

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        # A head that ended within this chunk was never counted raw: measure it when it may be
        # over a limit (raising here stops the parser before the app is called).
        if self._head_uncounted or self._head_bytes + self._chunk > MAX_LINE_BYTES:
            sizes = [len(name) + len(value) + 4 for name, value in self.headers]  # ": " and CRLF
            if len(self.url) > MAX_LINE_BYTES:
                self._stop_parser(URL_TOO_LONG)
            if max(sizes, default=0) > MAX_LINE_BYTES:
                self._stop_parser(HEADER_TOO_LARGE)
            if len(self.url) + sum(sizes) > MAX_HEAD_BYTES:
                self._stop_parser(HEAD_TOO_LARGE)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()
        self._new_head()

    def _stop_parser(self, answer: tuple[int, str, str]) -> None:
        """Raising in a callback makes httptools fail feed_data (HttpParserCallbackError)."""
        self._refusal = answer
        raise RuntimeError(answer[2])

    # Timers and refusals

    def _head_too_slow(self) -> None:
        self._header_timer = None
        if self._head_started:
            self._refuse(408, "request_timeout", "The request's headers arrived too slowly.")
        else:  # nothing sent: no request to answer
            self.transport.close()

    def _check_body_rate(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        # Reading paused (the app has not asked for more yet, or a pipelined request waits) and
        # an unanswered Expect: 100-continue are the server's delay, not the client's.
        waiting_on_us = self.flow.read_paused or cycle.waiting_for_100_continue
        if waiting_on_us or self._received - self._body_mark >= BODY_MIN_BYTES_PER_S * self.body_timeout:
            self._body_mark = self._received
            self._body_timer = self.loop.call_later(self.body_timeout, self._check_body_rate)
        elif cycle.response_started:  # it has its answer, or is getting it: nothing more to say
            self.transport.close()
        else:
            cycle.disconnected = True  # the app's receive() now says http.disconnect
            cycle.message_event.set()
            self._refuse(408, "request_timeout", "The request's body arrived too slowly.")

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer `status` in JSON and close, reading and dropping what still comes for LINGER_S
        (closing with unread data would send a reset, which can destroy the answer in flight)."""
        self._refused = True
        self._cancel_timers()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.disconnected:
            self.transport.close()  # an earlier request's answer is under way: no room for ours
            return
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = [STATUS_LINE[status]]
        head += [b"%s: %s\r\n" % pair for pair in self.server_state.default_headers]
        head += [b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)
