"""The client's retries over a real HTTP server: an API server that is restarting answers 503 (or 429
from Priority and Fairness) before it handles a request, so every verb is repeated; one that stays
away long enough becomes the `api-unreachable` fault, never a test failure about RuntimeClass."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3

from conformance.infrastructure import API_DOWN, exception_fault
from conformance.kube import ApiServerRetry


def retry() -> ApiServerRetry:
    return ApiServerRetry(total=24, connect=10, read=2, redirect=2, status=12, backoff_factor=0.01, backoff_max=0.02)


class Server:
    """Answers `status` (with Retry-After: 0) to the first `busy` requests, then 201."""

    def __init__(self, busy: int, status: int) -> None:
        self.busy, self.status, self.seen = busy, status, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.seen.append(self.command)
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                code = outer.status if len(outer.seen) <= outer.busy else 201
                self.send_response(code)
                if code != 201:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/namespaces/x/pods"


@pytest.fixture
def serve() -> Iterator:
    servers: list[Server] = []

    def start(busy: int, status: int) -> Server:
        server = Server(busy, status)
        threading.Thread(target=server.httpd.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.httpd.shutdown()


@pytest.mark.parametrize("status", [503, 429])
def test_a_create_the_api_server_was_not_ready_for_is_repeated_until_it_is(serve, status):
    server = serve(busy=3, status=status)
    answer = urllib3.PoolManager(retries=retry()).request("POST", server.url, body=b"{}")
    assert answer.status == 201 and server.seen == ["POST"] * 4


def test_an_api_server_that_stays_unavailable_is_the_api_unreachable_fault(serve):
    server = serve(busy=100, status=503)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as gave_up:
        urllib3.PoolManager(retries=retry()).request("GET", server.url)
    assert len(server.seen) == 13  # the first answer and 12 retries
    fault = exception_fault(gave_up.value)
    assert fault is not None and fault.kind == API_DOWN


def test_other_server_errors_are_answers_not_retried(serve):
    server = serve(busy=1, status=500)
    answer = urllib3.PoolManager(retries=retry()).request("POST", server.url, body=b"{}")
    assert answer.status == 500 and server.seen == ["POST"]
