"""A Hypothesis state machine drives the ledger with random receipts, draws, transfers,
adjustments, counts and reversals, and compares the database with a plain Python model after
every step."""

from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from stock import services
from stock.checks import ledger_violations
from stock.models import Balance, PostingKind, Reason
from stock.services import Line, posting_create
from tests.stock.factories import ItemFactory, LocationFactory, key

quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(60), places=3)


class LedgerMachine(RuleBasedStateMachine):
    lots = Bundle("lots")
    postings = Bundle("postings")

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.items = [ItemFactory(), ItemFactory()]
        self.places = [LocationFactory(name="Storage"), LocationFactory(name="Bench")]
        self.model = defaultdict(Decimal)  # (lot id, location id) -> quantity
        self.effects = {}  # posting id -> {(lot id, location id): change}
        self.reversed = set()

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _record(self, posting, changes):
        self.effects[posting.pk] = dict(changes)
        for k, v in changes.items():
            self.model[k] += v
        return posting

    def _attempt(self, changes, write):
        """Run `write`; it must succeed exactly when the model stays non-negative."""
        fits = all(self.model[k] + v >= 0 for k, v in changes.items())
        try:
            posting = write()
        except ValidationError:
            assert not fits, f"refused although the model allows {changes}"
            return None
        assert fits, f"posted although the model forbids {changes}"
        return self._record(posting, changes)

    @rule(target=lots, item=st.sampled_from([0, 1]), place=st.sampled_from([0, 1]), q=quantities)
    def receive(self, item, place, q):
        location = self.places[place]
        posting = posting_create(
            kind=PostingKind.RECEIPT,
            lines=[
                Line(location=location, quantity=q, item=self.items[item], unit_cost=Decimal(1))
            ],
            user=None,
            idempotency_key=key(),
        )
        lot = posting.created_lots.get()
        self._record(posting, {(lot.pk, location.pk): q})
        return lot

    @rule(target=postings, lot=lots, place=st.sampled_from([0, 1]), q=quantities)
    def draw(self, lot, place, q):
        location = self.places[place]
        return self._attempt(
            {(lot.pk, location.pk): -q},
            lambda: posting_create(
                kind=PostingKind.DISPATCH,
                lines=[Line(location=location, quantity=-q, lot=lot)],
                user=None,
                idempotency_key=key(),
            ),
        )

    @rule(target=postings, lot=lots, src=st.sampled_from([0, 1]), q=quantities)
    def transfer(self, lot, src, q):
        a, b = self.places[src], self.places[1 - src]
        return self._attempt(
            {(lot.pk, a.pk): -q, (lot.pk, b.pk): q},
            lambda: services.transfer_post(
                from_location=a,
                to_location=b,
                quantities=[(lot, q)],
                user=None,
                idempotency_key=key(),
            ),
        )

    @rule(target=postings, lot=lots, place=st.sampled_from([0, 1]), q=quantities, out=st.booleans())
    def adjust(self, lot, place, q, out):
        location = self.places[place]
        signed = -q if out else q
        return self._attempt(
            {(lot.pk, location.pk): signed},
            lambda: services.adjustment_post(
                item=lot.item,
                lot=lot,
                location=location,
                quantity=signed,
                reason=Reason.DAMAGED if out else Reason.FOUND,
                user=None,
                idempotency_key=key(),
            ),
        )

    @rule(target=postings, lot=lots, place=st.sampled_from([0, 1]), counted=quantities)
    def count(self, lot, place, counted):
        location = self.places[place]
        pair = (lot.pk, location.pk)
        change = counted - self.model[pair]
        try:
            posting = services.count_post(
                location=location, counts=[(lot, counted)], user=None, idempotency_key=key()
            )
        except services.NothingToPost:
            assert change == 0
            return None
        return self._record(posting, {pair: change})

    @rule(posting=consumes(postings))
    def reverse(self, posting):
        if posting is None:
            return
        opposite = {k: -v for k, v in self.effects[posting.pk].items()}
        self._attempt(
            opposite,
            lambda: services.posting_reverse(
                posting=posting, note="test", user=None, idempotency_key=key()
            ),
        )

    @invariant()
    def database_matches_the_model(self):
        stored = {
            (b.lot_id, b.location_id): b.quantity for b in Balance.objects.all() if b.quantity != 0
        }
        expected = {k: v for k, v in self.model.items() if v != 0}
        assert stored == expected
        assert ledger_violations() == []


@pytest.mark.django_db
def test_the_ledger_matches_a_plain_model_under_random_operations():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            database=None,
        ),
    )
