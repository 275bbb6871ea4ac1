from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LoomworksConfig(AppConfig):
    name = "loomworks"
    verbose_name = "Loomworks"

    def ready(self):
        from loomworks.roles import sync_role_permissions

        # Permissions are created after each app migrates; give them to their roles then.
        post_migrate.connect(sync_role_permissions, dispatch_uid="loomworks-roles")
