from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from batches.models import Batch, BatchEvent, BatchLot, LotRole, Status
from loomworks.management.commands.seed_demo import DEFAULT_PASSWORD, EMPTY_PASSWORD
from loomworks.roles import role_of
from stock import trace
from stock.models import (
    Balance,
    Customer,
    Dispatch,
    Loss,
    Lot,
    Movement,
    Posting,
    workshop_today,
)

pytestmark = pytest.mark.django_db
User = get_user_model()
DEMO_USERNAMES = ["owner", "maker", "viewer"]


def _snapshot():
    return {
        "people": sorted(
            (u.username, u.get_full_name(), role_of(u), u.is_staff, u.is_active)
            for u in User.objects.prefetch_related("groups")
        ),
        "groups": sorted(
            (g.name, g.permissions.count(), g.user_set.count()) for g in Group.objects.all()
        ),
    }


def _signs_in(username, password):
    response = Client().post("/sign-in/", {"username": username, "password": password})
    return response.status_code == 302


def test_seed_demo_creates_owner_maker_and_viewer_who_can_sign_in():
    call_command("seed_demo", password="wax-and-wick-42")
    roles = {u.username: role_of(u) for u in User.objects.all()}
    assert roles == {"owner": "Owner", "maker": "Maker", "viewer": "Viewer"}
    assert User.objects.get(username="owner").is_staff
    assert not User.objects.get(username="maker").is_staff
    assert all(u.check_password("wax-and-wick-42") for u in User.objects.all())


def test_seed_demo_twice_gives_the_same_data():
    call_command("seed_demo", password="first-password-1")
    first = _snapshot()

    call_command("seed_demo", password="second-password-2")

    assert _snapshot() == first


def test_a_new_demo_password_replaces_the_old_one_for_all_three_demo_people():
    # make run DEMO_PASSWORD=x after a first run: x signs in, the old password no longer does.
    call_command("seed_demo", password="first-password-1")
    owner = User.objects.get(username="owner")
    owner.set_password("changed-by-the-owner")
    owner.save()

    call_command("seed_demo", password="second-password-2")

    for username in DEMO_USERNAMES:
        assert _signs_in(username, "second-password-2"), username
    assert not _signs_in("owner", "changed-by-the-owner")
    assert not _signs_in("maker", "first-password-1")


def test_seed_demo_without_a_password_keeps_the_passwords_people_have():
    call_command("seed_demo", password="first-password-1")
    owner = User.objects.get(username="owner")
    owner.set_password("changed-by-the-owner")
    owner.save()

    call_command("seed_demo")

    assert User.objects.get(username="owner").check_password("changed-by-the-owner")
    assert User.objects.get(username="maker").check_password("first-password-1")


def test_seed_demo_without_a_password_gives_new_demo_people_the_default_one():
    call_command("seed_demo")
    assert all(
        User.objects.get(username=u).check_password(DEFAULT_PASSWORD) for u in DEMO_USERNAMES
    )


def test_seed_demo_refuses_an_empty_password_and_changes_nobody():
    call_command("seed_demo", password="first-password-1")
    with pytest.raises(CommandError, match=EMPTY_PASSWORD):
        call_command("seed_demo", password="  ")
    assert User.objects.get(username="viewer").check_password("first-password-1")


def _history():
    return {
        "batches": sorted(
            Batch.objects.values_list(
                "reference", "status", "stages_done", "production_date", "ready_on", "completed_on"
            )
        ),
        "postings": Posting.objects.count(),
        "events": BatchEvent.objects.count(),
        "balances": sorted(Balance.objects.values_list("lot__code", "location__name", "quantity")),
        "customers": sorted(Customer.objects.values_list("name", "email")),
        "dispatches": sorted(
            Dispatch.objects.values_list("customer__name", "dispatched_on", "channel", "posting")
        ),
    }


def test_seed_demo_gives_months_of_batches_that_agree_with_the_ledger_once(capsys):
    call_command("seed_demo", password="first-password-1")
    today = workshop_today()
    assert abs(timezone.now() - datetime.now(UTC)) < timedelta(seconds=5)  # the clock is back

    completed = Batch.objects.filter(status=Status.COMPLETED)
    assert completed.count() >= 12
    assert min(b.production_date for b in completed) <= today - timedelta(days=90)
    assert all(b.completed_on < today for b in completed)
    # Each stage's posting is dated the day it was recorded, in the past; so is its timeline.
    for posting in Posting.objects.filter(owner="batches"):
        assert timezone.localdate(posting.created_at) < today
    oldest = completed.order_by("production_date").first()
    assert timezone.localdate(oldest.events.order_by("at").last().at) == oldest.completed_on

    curing = Batch.objects.get(status=Status.RUNNING, stages_done=1)
    assert curing.product.code == "SOAP" and curing.ready_on > today
    running = Batch.objects.get(status=Status.RUNNING, stages_done=0)
    assert running.product.code == "CND"
    assert Batch.objects.filter(status=Status.PLANNED).count() == 1

    # Realistic variance: a short yield and why, offcuts kept as scrap, a wick swapped.
    assert completed.filter(splits__rejected__gt=0).exists()
    assert Loss.objects.filter(kind="rejection", note__contains="heating was off").exists()
    assert BatchLot.objects.filter(role=LotRole.SCRAP, lot__item__kind="scrap").exists()
    assert Movement.objects.filter(
        posting__owner="batches", lot__item__sku="WICK-WOOD", quantity__lt=0
    ).exists()

    # What was sold of it: customers and dispatches from the batches' lots, one came back.
    assert Customer.objects.count() >= 8
    sent = Dispatch.objects.select_related("posting__reversed_by").prefetch_related(
        "posting__movements__lot"
    )
    assert sent.count() >= 25
    assert {d.channel for d in sent} >= {"Etsy", "Shopify", "Market"}
    assert [d.posting.reversed_by.note[:10] for d in sent if hasattr(d.posting, "reversed_by")] == [
        "Came back "
    ]
    for d in sent:
        assert d.dispatched_on < today
        assert timezone.localdate(d.posting.created_at) == d.dispatched_on
        lots = [m.lot for m in d.posting.movements.all()]
        assert lots and all(lot.received_on < d.dispatched_on for lot in lots)
    lavender_oil = Lot.objects.get(item__sku="FO-LAV", code="LAV-2606")
    assert len({r.name for r in trace.recall(lavender_oil)}) >= 4  # a recall reaches people

    call_command("check_ledger")
    assert "The ledger is sound." in capsys.readouterr().out

    first = _history()
    call_command("seed_demo", password="first-password-1")
    assert _history() == first
