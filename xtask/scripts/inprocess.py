"""Django's in-process request rate: the ceiling for any server.

Run from the Django project directory (the one with manage.py) with the venv's
Python. Loads the WSGI callable as a server would (``mysite.wsgi:application``),
then for a fixed time calls it with a freshly copied, prebuilt environ for one
GET request, iterates the response and calls ``close()`` (which fires Django's
request_finished signal), exactly what a WSGI server does per request minus
the HTTP parsing and socket I/O. Prints ``rps=<float>`` on its last line.

    python inprocess.py [--app mysite.wsgi:application] [--path /hello] [--seconds 5]
"""

import argparse
import importlib
import io
import os
import sys
import time


def load(spec):
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "application")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default="mysite.wsgi:application")
    parser.add_argument("--path", default="/hello")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()

    sys.path.insert(0, os.getcwd())
    app = load(args.app)

    path, _, query = args.path.partition("?")
    base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    state = {}

    def start_response(status, headers, exc_info=None):
        state["status"] = status
        return None

    def one_request():
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(b"")
        result = app(environ, start_response)
        body = []
        try:
            for chunk in result:
                body.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return body

    body = b"".join(one_request())
    if not state.get("status", "").startswith("200"):
        sys.exit(
            "inprocess: GET %s answered %r, expected 200 (body %r)"
            % (args.path, state.get("status"), body[:200])
        )
    print("inprocess: GET %s -> %s, %d body bytes" % (args.path, state["status"], len(body)))

    def loop(seconds):
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        now = start
        while now < deadline:
            for _ in range(64):
                one_request()
            count += 64
            now = time.perf_counter()
        return count, now - start

    loop(args.warmup)
    count, elapsed = loop(args.seconds)
    print("inprocess: %d requests in %.2fs" % (count, elapsed))
    print("rps=%.1f" % (count / elapsed))


if __name__ == "__main__":
    main()
