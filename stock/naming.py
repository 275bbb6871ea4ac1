"""Names that people give things (locations, suppliers, categories): tidy and unique."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction


def unique_name(queryset, name: str, *, noun: str, instance=None) -> str:
    """`name` with its spaces tidied; a ValidationError on "name" when it is empty or when
    another row of `queryset` already has it, whatever the case."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": f"Give the {noun} a name."})
    clash = queryset.filter(name__iexact=name)
    if instance is not None and instance.pk:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise ValidationError({"name": f"There is already a {noun} called {name}."})
    return name


def save_named(instance, *, noun: str):
    """Save a row whose name is unique in any case (a database constraint). Two people adding
    "Bench" and "bench" at the same moment both pass unique_name; the second gets this message
    instead of an error page."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise ValidationError(
            {"name": f"There is already a {noun} called {instance.name}."}
        ) from None
    return instance
