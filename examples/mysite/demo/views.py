"""Small views that show (and let the tests check) what the server hands to Django."""

import time
from pathlib import Path

from django.http import (
    FileResponse,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt

from .models import Item

SAMPLE_FILE = Path(__file__).resolve().parent / "files" / "sample.txt"

# request.META keys reported by /meta, besides every HTTP_* header.
META_KEYS = [
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "SERVER_PROTOCOL",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "REQUEST_METHOD",
    "wsgi.url_scheme",
    "wsgi.input_terminated",
]


def hello(request):
    """The benchmark target: the smallest possible Django response."""
    return HttpResponse("Hello, world!", content_type="text/plain")


@csrf_exempt
def echo(request):
    """Return the request body verbatim (for POST, PUT, ...)."""
    return HttpResponse(request.body, content_type="application/octet-stream")


@csrf_exempt
def meta(request):
    """JSON of the WSGI environ keys a server is responsible for, plus cookies."""
    selected = {
        key: value
        for key, value in request.META.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    }
    for key in META_KEYS:
        if key in request.META:
            selected[key] = request.META[key]
    return JsonResponse({"meta": selected, "cookies": request.COOKIES})


def stream(request):
    """n chunks of `size` bytes, sleeping `delay` seconds between chunks.

    Chunk i is made of the letter "a" + i % 26, so a client can check the order.
    """
    n = int(request.GET.get("n", 5))
    size = int(request.GET.get("size", 10))
    delay = float(request.GET.get("delay", 0))
    letters = [bytes([ord("a") + i]) * size for i in range(26)]

    def chunks():
        for i in range(n):
            if i and delay:
                time.sleep(delay)
            yield letters[i % 26]

    return StreamingHttpResponse(chunks(), content_type="application/octet-stream")


def file(request):
    """A file shipped with the project, sent through wsgi.file_wrapper."""
    return FileResponse(open(SAMPLE_FILE, "rb"), content_type="text/plain")


def error(request):
    """A failing view: Django turns this into its own 500 page and logs it."""
    raise RuntimeError("boom: /error always fails")


def sleep(request):
    """Hold a worker thread for `ms` milliseconds."""
    time.sleep(int(request.GET.get("ms", 100)) / 1000)
    return HttpResponse("slept", content_type="text/plain")


def spin(request):
    """Compute (holding the GIL) for `ms` milliseconds: a CPU-bound view."""
    deadline = time.perf_counter() + int(request.GET.get("ms", 100)) / 1000
    rounds = 0
    while time.perf_counter() < deadline:
        rounds += 1
    return HttpResponse(f"spun {rounds}", content_type="text/plain")


@csrf_exempt
def items(request):
    """GET lists the items; POST (form field `name`) adds one."""
    if request.method == "POST":
        item = Item.objects.create(name=request.POST.get("name", "unnamed")[:100])
        return JsonResponse({"id": item.id, "name": item.name}, status=201)
    return JsonResponse(
        {"items": [{"id": i.id, "name": i.name} for i in Item.objects.all()]}
    )
