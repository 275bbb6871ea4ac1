from django.apps import AppConfig


class RecipesConfig(AppConfig):
    name = "recipes"

    def ready(self):
        # Imported here, as Django asks: models are not loaded while apps.py is imported.
        from materials.services import register_unit_guard
        from recipes.services import unit_change_problem

        register_unit_guard(unit_change_problem)
