from django.apps import AppConfig


class MaterialsConfig(AppConfig):
    name = "materials"

    def ready(self):
        # Imported here, as Django asks: models are not loaded while apps.py is imported.
        from materials.checks import shipping_shares_add_up
        from stock.checks import register_check

        register_check(shipping_shares_add_up)
