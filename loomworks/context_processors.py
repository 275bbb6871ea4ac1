from django.conf import settings

from loomworks.roles import role_of


def workshop(request):
    user = getattr(request, "user", None)
    return {
        "currency": settings.CURRENCY,
        "user_role": role_of(user) if user is not None else None,
    }
