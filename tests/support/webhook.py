"""A local webhook receiver: an HTTP server on a free loopback port that records
every POST and answers with the statuses a test chooses."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support.poll import poll_until


class Receiver:
    """A local HTTP server recording every POST: (monotonic time, path, headers, raw body).

    `statuses` is the list of statuses to answer, in order (the last one repeats);
    `delay` seconds of sleep before each answer."""

    def __init__(self, statuses=(200,), delay: float = 0.0):
        self.statuses = list(statuses)
        self.delay = delay
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver.lock:
                    index = len(receiver.calls)
                    receiver.calls.append(
                        {"at": time.monotonic(), "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "raw": raw}
                    )
                    status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def pairs(call) -> list[tuple[str, object]]:
        """The JSON body as (key, value) pairs in the order sent."""
        return json.loads(call["raw"].decode("utf-8"), object_pairs_hook=list)

    def payloads(self, type_: str | None = None) -> list[dict]:
        with self.lock:
            calls = list(self.calls)
        out = [dict(self.pairs(c)) for c in calls]
        return [p for p in out if type_ is None or p.get("type") == type_]

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "webhook"):
        """Poll the payloads received so far until `predicate(payloads)` is truthy; returns it."""
        return poll_until(lambda: predicate(self.payloads()), timeout, what=what, context=lambda: f"received: {self.payloads()!r}")
