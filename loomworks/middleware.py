"""The workshop's settings for each request: read once, and its time zone made the current
one, so pages show times where the workshop is."""

from django.db import DatabaseError
from django.utils import timezone

from stock.models import current_workshop, workshop_scope


class WorkshopMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with workshop_scope():
            try:
                timezone.activate(current_workshop().zone)
            except DatabaseError:  # /healthz must still say the database is down
                pass
            try:
                return self.get_response(request)
            finally:
                timezone.deactivate()
