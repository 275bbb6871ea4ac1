from loomworks.roles import role_of
from stock.models import current_workshop


def workshop(request):
    user = getattr(request, "user", None)
    return {
        "currency": current_workshop().currency,
        "workshop": current_workshop(),
        "user_role": role_of(user) if user is not None else None,
    }
