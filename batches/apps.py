from django.apps import AppConfig
from django.urls import reverse


def _batch_page(owner_ref: str) -> str:
    """A batch's postings carry its reference as owner_ref."""
    return reverse("batches:by_reference", args=[owner_ref])


class BatchesConfig(AppConfig):
    name = "batches"

    def ready(self):
        from stock.ownership import register_owner

        register_owner("batches", label="batch", url=_batch_page)
