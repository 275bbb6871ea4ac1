from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LoomworksConfig(AppConfig):
    name = "loomworks"
    verbose_name = "Loomworks"

    def ready(self):
        # The one import inside a function: apps.py is read before any model may be imported,
        # and roles imports the auth models, so it can only be imported once apps are ready.
        from loomworks.roles import sync_role_permissions

        # Permissions are created after each app migrates; give them to their roles then.
        post_migrate.connect(sync_role_permissions, dispatch_uid="loomworks-roles")
