from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from batches import demo as batches_demo
from loomworks.roles import Role, sync_role_permissions
from materials import demo as materials_demo
from recipes import demo as recipes_demo
from stock import demo as stock_demo
from stock import demo_dispatches

DEMO_PEOPLE = [
    ("owner", "Olive", "Owner", Role.OWNER),
    ("maker", "Mo", "Maker", Role.MAKER),
    ("viewer", "Vic", "Viewer", Role.VIEWER),
]
DEFAULT_PASSWORD = "loomworks-demo"
EMPTY_PASSWORD = "The demo password cannot be empty: give one, e.g. --password loomworks-demo."


class Command(BaseCommand):
    help = (
        "Create the demo workshop and the people owner, maker and viewer. Safe to run again. "
        "With --password, the three demo people's password is set to it on every run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=None,
            help=(
                "set owner's, maker's and viewer's password to this, even if they exist "
                f"(without it: new demo people get {DEFAULT_PASSWORD!r}, existing ones keep theirs)"
            ),
        )

    @transaction.atomic
    def handle(self, *args, password, **options):
        if password is not None and not password.strip():
            raise CommandError(EMPTY_PASSWORD)
        sync_role_permissions()
        User = get_user_model()
        for username, first, last, role in DEMO_PEOPLE:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last, "is_staff": role == Role.OWNER},
            )
            if created:
                user.groups.set([Group.objects.get(name=role.value)])
            if created or password is not None:
                user.set_password(password if password is not None else DEFAULT_PASSWORD)
                user.save(update_fields=["password"])
        owner = User.objects.get(username="owner")
        stock_demo.seed_workshop()
        stock_demo.seed_locations()
        materials_demo.seed(user=owner)
        stock_demo.seed_movements(user=owner)
        with batches_demo.as_of(batches_demo.RECIPES_WRITTEN):
            recipes_demo.seed()  # written before the batches' history, which uses them
        batches_demo.seed(user=owner)
        # What was sold of it, after the batches that made it: the maker sends the parcels.
        demo_dispatches.seed(user=User.objects.get(username="maker"), clock=batches_demo.as_of)
        if password is not None:
            self.stdout.write("The demo people owner, maker and viewer have the password given.")
        self.stdout.write(self.style.SUCCESS("Demo workshop ready."))
