"""The workshop's settings for each request: read once, and its time zone made the current
one, so pages show times where the workshop is."""

from contextlib import suppress

from django.db import DatabaseError
from django.utils import timezone

from stock.models import current_workshop, workshop_scope


class WorkshopMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with workshop_scope():
            with suppress(DatabaseError):  # /healthz must still say the database is down
                timezone.activate(current_workshop().zone)
            try:
                return self.get_response(request)
            finally:
                timezone.deactivate()
