from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from loomworks.roles import Role, sync_role_permissions
from materials import demo as materials_demo
from stock import demo as stock_demo

DEMO_PEOPLE = [
    ("owner", "Olive", "Owner", Role.OWNER),
    ("maker", "Mo", "Maker", Role.MAKER),
    ("viewer", "Vic", "Viewer", Role.VIEWER),
]


class Command(BaseCommand):
    help = "Create the demo workshop and the people owner, maker and viewer. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password", default="loomworks-demo", help="password for new demo people"
        )

    @transaction.atomic
    def handle(self, *args, password, **options):
        sync_role_permissions()
        User = get_user_model()
        for username, first, last, role in DEMO_PEOPLE:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last, "is_staff": role == Role.OWNER},
            )
            if created:
                user.set_password(password)
                user.save()
                user.groups.set([Group.objects.get(name=role.value)])
        owner = User.objects.get(username="owner")
        stock_demo.seed_locations()
        materials_demo.seed(user=owner)
        stock_demo.seed_movements(user=owner)
        self.stdout.write(self.style.SUCCESS("Demo workshop ready."))
