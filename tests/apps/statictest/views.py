from django.http import HttpResponse


def django_view(request):
    """A Django view whose URL lies under STATIC_URL or MEDIA_URL."""
    return HttpResponse(f"django-view {request.path}", content_type="text/plain")
