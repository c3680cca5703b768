"""Limits on a request's head and on slow senders (effigies.api.http_limits), over raw sockets.

A second `effigies api` beside the stack's (the command `effigies up` and compose run too),
with timeouts of one second so that slow senders are cut within the test's patience. Every wait
is for the server to answer or close; a socket timeout is only the safety net.
"""
from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from effigies.api import server
from effigies.api.http_limits import LimitedHttpToolsProtocol
from effigies.config import Settings
from tests.conftest import _spawn, _stop, free_port, wait_http

SAFETY_S = 15  # no test should come near it: the server answers in milliseconds, or after 1-2 s


@pytest.fixture(scope="module")
def api(stack):
    """(port, pid) of an API process with 1 s header and body timeouts."""
    port = free_port()
    env = {**stack.env, "EE_PORT": str(port), "EE_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "EE_HTTP_HEADER_TIMEOUT_S": "1", "EE_HTTP_BODY_TIMEOUT_S": "1"}
    proc = _spawn(["api"], env, stack.data_dir / "logs" / "api-header-limits.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/api/health", 90, proc)
        yield port, proc.pid
    finally:
        _stop(proc)


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `data` (however much of it the server takes), read until the server closes, and
    return the first response's status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=SAFETY_S) as sock:
        try:
            sock.sendall(data)
        except OSError:  # refused before the end: its answer is waiting to be read
            pass
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return int(status_line.split()[1]), headers, body


def request(port: int, *headers: bytes, path: bytes = b"/api/health") -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n" % (
        path, port, b"".join(h + b"\r\n" for h in headers))


def error_code(status_headers_body: tuple[int, dict[str, str], bytes]) -> tuple[int, str]:
    status, headers, body = status_headers_body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["message"]
    return status, error["code"]


def test_effigies_api_serves_every_connection_with_the_limited_protocol(monkeypatch):
    import uvicorn
    from uvicorn.importer import import_from_string

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    server.serve(settings=Settings.model_construct(env="test", host="127.0.0.1", port=8000, api_workers=None),
                 host=None, port=None, workers=None)
    assert import_from_string(seen["http"]) is LimitedHttpToolsProtocol


def test_a_header_over_16_kb_is_refused_with_a_json_431(api):
    port, _ = api
    assert error_code(exchange(port, request(port, b"X-Big: " + b"a" * 20_000))) == (431, "request_header_too_large")


def test_70_kb_of_small_headers_are_refused_with_a_json_431(api):
    port, _ = api
    many = [b"X-Small-%d: %s" % (i, b"b" * 90) for i in range(700)]
    assert error_code(exchange(port, request(port, *many))) == (431, "request_header_too_large")


def test_an_address_over_16_kb_is_refused_with_a_json_414(api):
    port, _ = api
    assert error_code(exchange(port, request(port, path=b"/api/health?q=" + b"q" * 20_000))) == (414, "uri_too_long")


def test_an_8_kb_cookie_is_still_welcome(api):
    port, _ = api
    status, _, body = exchange(port, request(port, b"Cookie: crumbs=" + b"c" * 8_000))
    assert status == 200, body


def _rss_kb(pid: int, field: str) -> int:
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1])


def test_a_16_mb_header_is_cut_early_and_the_api_keeps_serving(api):
    port, pid = api
    exchange(port, request(port))  # warm: the baseline is a process that has served a request
    before = _rss_kb(pid, "VmRSS:")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM (peak RSS) counts from here
    sending = threading.Event()
    answers = {}

    def send_huge() -> None:
        sending.set()
        answers["huge"] = exchange(port, request(port, b"X-Huge: " + b"h" * (16 << 20)))

    sender = threading.Thread(target=send_huge)
    sender.start()
    sending.wait(SAFETY_S)
    status, _, body = exchange(port, request(port))  # a normal request while the huge one is sent
    sender.join(SAFETY_S)
    assert status == 200, body
    assert error_code(answers["huge"]) == (431, "request_header_too_large")
    # Refused after its first 64 KB, the rest read and dropped: nowhere near 16 MB held.
    assert _rss_kb(pid, "VmHWM:") - before < 8 * 1024


def test_headers_that_stop_halfway_are_cut_with_a_json_408(api):
    port, _ = api
    half = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half"
    assert error_code(exchange(port, half)) == (408, "request_timeout")


def test_a_connection_that_sends_nothing_is_closed(api):
    port, _ = api
    with socket.create_connection(("127.0.0.1", port), timeout=SAFETY_S) as sock:
        assert sock.recv(1024) == b""


def test_a_body_that_trickles_is_cut_with_a_json_408(api):
    # POST /api/verify is open to anyone (no CSRF token) and reads its body before answering.
    port, _ = api
    start = (b"POST /api/verify HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
             b"Content-Length: 2000\r\n\r\n{\"version\"" % port)
    assert error_code(exchange(port, start)) == (408, "request_timeout")
