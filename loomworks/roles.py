"""Roles are Django groups. This module is the one place that says what each role may do.

Later issues extend MAKER_PERMISSIONS with their own codenames; `sync_role_permissions`
runs after every migrate, so a new permission reaches its roles without a hand-written step.
"""

from django.contrib.auth.models import Group, Permission
from django.db import models


class Role(models.TextChoices):
    OWNER = "Owner", "Owner"
    MAKER = "Maker", "Maker"
    VIEWER = "Viewer", "Viewer"


ALL = "__all__"

# "app_label.codename" per role. Owner holds every permission there is.
# Viewer reads: every "view_" permission of the apps below.
VIEW_APPS = ("stock", "materials", "recipes", "batches")

MAKER_PERMISSIONS = {
    "stock.add_posting",  # adjust, count, transfer
    "stock.quarantine_lot",
    "materials.add_receipt",  # receive deliveries
    "batches.add_batch",  # plan, start, record stages, complete, finish the rest, cancel
    "stock.add_dispatch",  # dispatch to customers, import orders
    "stock.add_customer",
    "stock.change_customer",
}

# What each role may do today, as the People page shows it.
ROLE_DESCRIPTIONS = {
    Role.OWNER: (
        "Everything: materials, prices, recipes, locations, reversals of postings and batches, "
        "people and the admin."
    ),
    Role.MAKER: (
        "Plans, runs, completes and cancels batches; dispatches to customers, imports orders "
        "and records returns; receives deliveries; counts, adjusts and moves stock; traces and "
        "holds lots back."
    ),
    Role.VIEWER: "Reads everything, changes nothing.",
}


def permissions_for(role, all_permissions):
    """The subset of `all_permissions` (Permission objects, content_type selected) a role holds."""
    if role == Role.OWNER:
        return list(all_permissions)
    chosen = []
    for perm in all_permissions:
        label = f"{perm.content_type.app_label}.{perm.codename}"
        is_view = perm.content_type.app_label in VIEW_APPS and perm.codename.startswith("view_")
        if is_view or (role == Role.MAKER and label in MAKER_PERMISSIONS):
            chosen.append(perm)
    return chosen


def sync_role_permissions(**kwargs):
    """Give each role group exactly the permissions `permissions_for` chooses. Idempotent."""
    all_permissions = list(Permission.objects.select_related("content_type"))
    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.value)
        group.permissions.set(permissions_for(role, all_permissions))


def role_of(user) -> str | None:
    """The role name of a user (their first role group), or None."""
    if not user.is_authenticated:
        return None
    names = {g.name for g in user.groups.all()}
    for role in Role:
        if role.value in names:
            return role.value
    return None
