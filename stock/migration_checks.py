"""Checks that migrations run before they add a constraint existing rows might break."""


def refuse_case_duplicates(app_label: str, model_name: str, field: str):
    """A RunPython step: stop the migration, naming the rows, when two rows of the model hold
    the same `field` in different case ("Bench" and "bench"), which a case-insensitive unique
    constraint cannot be added over. Rename one of them (in the admin) and migrate again."""

    def check(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        seen: dict[str, list[str]] = {}
        for value in model.objects.order_by(field).values_list(field, flat=True):
            seen.setdefault(value.lower(), []).append(value)
        clashes = [names for names in seen.values() if len(names) > 1]
        if clashes:
            listed = "; ".join(" / ".join(names) for names in clashes)
            raise RuntimeError(
                f"{model._meta.verbose_name_plural} differ only in case: {listed}. "
                f"Rename all but one of each (the {field} must be unique whatever the case), "
                "then run migrate again."
            )

    return check
