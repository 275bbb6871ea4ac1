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
from stock.engine import Line, NothingToPost, posting_create
from stock.models import Balance, PostingKind, Reason
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
        self.lots_of = {0: [], 1: []}  # item index -> lot ids, oldest first
        self.reversed = set()
        self.made = {}  # posting id -> the lot id it created
        self.voided = set()  # lots whose receipt was reversed: nothing goes into them again

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _record(self, result, changes):
        posting = result.posting
        changes = {k: v for k, v in changes.items() if v}
        self.effects[posting.pk] = dict(changes)
        for k, v in changes.items():
            self.model[k] += v
        return posting

    def _attempt(self, changes, write):
        """Run `write`; it must succeed exactly when the model stays non-negative."""
        fits = all(
            self.model[k] + v >= 0 and not (v > 0 and k[0] in self.voided)
            for k, v in changes.items()
        )
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
        result = posting_create(
            kind=PostingKind.RECEIPT,
            lines=[
                Line(location=location, quantity=q, item=self.items[item], unit_cost=Decimal(1))
            ],
            user=None,
            idempotency_key=key(),
        )
        lot = result.lots[0]
        self._record(result, {(lot.pk, location.pk): q})
        self.made[result.posting.pk] = lot.pk
        self.lots_of[item].append(lot.pk)
        return lot

    @rule(
        target=postings, item=st.sampled_from([0, 1]), place=st.sampled_from([0, 1]), q=quantities
    )
    def draw_first_in_first_out(self, item, place, q):
        """A draw that names no lot: the model takes from the oldest lots first (none of these
        lots expire, so first-expiry-first is oldest-first)."""
        location = self.places[place]
        changes, remaining = {}, q
        for lot_id in self.lots_of[item]:
            take = min(self.model[(lot_id, location.pk)], remaining)
            if take > 0:
                changes[(lot_id, location.pk)] = -take
                remaining -= take
        if remaining > 0:  # not enough: the model expects a refusal that changes nothing
            changes = {(None, location.pk): -remaining}
        return self._attempt(
            changes,
            lambda: posting_create(
                kind=PostingKind.DISPATCH,
                lines=[Line(location=location, quantity=-q, item=self.items[item])],
                user=None,
                idempotency_key=key(),
            ),
        )

    @rule(
        target=postings,
        lot=lots,
        other=lots,
        place=st.sampled_from([0, 1]),
        q=quantities,
        r=quantities,
    )
    def draw_two_lines(self, lot, other, place, q, r):
        """One posting, two lines (maybe the same lot twice): all or nothing."""
        location = self.places[place]
        changes = {(lot.pk, location.pk): -q}
        changes[(other.pk, location.pk)] = changes.get((other.pk, location.pk), 0) - r
        return self._attempt(
            changes,
            lambda: posting_create(
                kind=PostingKind.DISPATCH,
                lines=[
                    Line(location=location, quantity=-q, lot=lot),
                    Line(location=location, quantity=-r, lot=other),
                ],
                user=None,
                idempotency_key=key(),
            ),
        )

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
        if change > 0 and lot.pk in self.voided:
            with pytest.raises(ValidationError):
                services.count_post(
                    location=location, counts=[(lot, counted)], user=None, idempotency_key=key()
                )
            return None
        try:
            result = services.count_post(
                location=location, counts=[(lot, counted)], user=None, idempotency_key=key()
            )
        except NothingToPost:
            assert change == 0
            return None
        return self._record(result, {pair: change})

    @rule(posting=consumes(postings))
    def reverse(self, posting):
        if posting is None:
            return
        opposite = {k: -v for k, v in self.effects[posting.pk].items()}
        fits = all(self.model[k] + v >= 0 for k, v in opposite.items())
        try:
            result = services.posting_reverse(
                posting=posting, note="test", user=None, idempotency_key=key()
            )
        except ValidationError as exc:
            # Refused when the model says no, or by a rule it does not keep (a later count of
            # the lot, its stock used or moved since); the invariant checks nothing changed.
            said = " ".join(exc.messages)
            assert not fits or any(
                words in said for words in ("was counted by", "was used by", "still holds")
            ), said
            return
        assert fits, f"reversed although the model forbids {opposite}"
        self._record(result, opposite)
        if posting.pk in self.made:
            self.voided.add(self.made[posting.pk])

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
