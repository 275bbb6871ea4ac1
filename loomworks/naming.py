"""Names that people give things (locations, suppliers, categories): tidy and unique."""

from django.core.exceptions import ValidationError


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
