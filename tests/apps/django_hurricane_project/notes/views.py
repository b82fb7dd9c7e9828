from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from notes.models import Note


@csrf_exempt
def notes(request):
    if request.method == "POST":
        Note.objects.create(text=request.body.decode())
    return JsonResponse({"notes": list(Note.objects.order_by("id").values_list("text", flat=True))})
