from django.apps import AppConfig
from django.urls import reverse


def _dispatch_page(owner_ref: str) -> str:
    return reverse("stock:dispatch", args=[int(owner_ref)])


class StockConfig(AppConfig):
    name = "stock"

    def ready(self):
        from stock.ownership import register_owner

        register_owner("dispatches", label="dispatch", url=_dispatch_page)
