"""Echo app for the HTTP request corpus tests (gunicorn's tests/requests).

Answers every request with 200 and a JSON description of what the server put
in the environ: method, PATH_INFO, QUERY_STRING, SERVER_PROTOCOL, every HTTP_*
key, CONTENT_TYPE, CONTENT_LENGTH and the body (latin-1 text, so every byte
survives). Modelled on http-garden's echo servers.
"""

import base64
import json


def application(environ, start_response):
    cl = environ.get("CONTENT_LENGTH")
    inp = environ["wsgi.input"]
    body = inp.read(int(cl)) if cl else inp.read()
    report = {
        "method": environ["REQUEST_METHOD"],
        "path_info": environ.get("PATH_INFO"),
        "script_name": environ.get("SCRIPT_NAME"),
        "query_string": environ.get("QUERY_STRING"),
        "protocol": environ.get("SERVER_PROTOCOL"),
        "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
        "content_type": environ.get("CONTENT_TYPE"),
        "content_length": environ.get("CONTENT_LENGTH"),
        "input_terminated": environ.get("wsgi.input_terminated"),
        "body_b64": base64.b64encode(body).decode("ascii"),
    }
    out = json.dumps(report).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
