"""The product's URLs plus `/bench/bare/`: the webhook benchmark's baseline, on the same server."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from dashboard.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def bare(request):
    """What a receiver that neither verifies nor stores costs: read the body, answer the ack."""
    request.body  # noqa: B018 - the body is read, as the real receiver reads it
    return HttpResponse(b'{"error_code":0}', content_type="application/json")


urlpatterns = [path("bench/bare/", bare), *product_urlpatterns]
