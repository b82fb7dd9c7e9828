"""A Django project's WSGI application wrapped by WSGI code that fails outside Django
(WSGI_APPLICATION = "wrapped_django_app.application"; tests/test_django_hurricane_options.py).

    /outside/raise     the wrapper raises before calling Django
    /outside/import    the wrapper imports a module that does not exist, at request time
    /outside/iterator  the response body fails after start_response, before its first chunk
    anything else      Django
"""

from django.core.handlers.wsgi import WSGIHandler

django_application = WSGIHandler()


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/outside/raise":
        raise RuntimeError("raised by the WSGI wrapper, outside Django")
    if path == "/outside/import":
        import hurricane_test_module_missing_at_request_time  # noqa: F401
    if path == "/outside/iterator":
        return failing_body(start_response)
    return django_application(environ, start_response)


def failing_body(start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    raise LookupError("the response body failed before its first chunk")
    yield b"never sent"
