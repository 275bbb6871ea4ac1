"""Real transactions, real threads, real PostgreSQL: the ledger holds under contention."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, connections

from stock import engine, services
from stock.checks import ledger_violations
from stock.engine import PostingResult
from stock.models import Balance, Location, Posting, PostingKind
from tests.stock.factories import ItemFactory, LocationFactory, draw, key, receive
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_draws_on_one_lot_succeed_exactly_as_far_as_stock_goes():
    assert connection.vendor == "postgresql"
    item = ItemFactory(name="Soy wax 464")
    shelf = LocationFactory(name="Storage")
    k = 37
    lot = receive(item, shelf, str(k), code="W-1")

    def twenty_draws(i):
        outcomes = []
        for _ in range(20):
            try:
                draw(lot, shelf, "1")
                outcomes.append("ok")
            except ValidationError as exc:
                outcomes.append(exc.messages[0])
        return outcomes

    results = run_together(16, twenty_draws)
    outcomes = [o for r in results for o in r]
    assert outcomes.count("ok") == k
    refused = [o for o in outcomes if o != "ok"]
    assert len(refused) == 16 * 20 - k
    assert set(refused) == {"Not enough Soy wax 464 (lot W-1) at Storage: need 1 g, have 0 g."}
    assert Balance.objects.get(lot=lot, location=shelf).quantity == 0
    assert ledger_violations() == []


def test_the_first_movements_into_a_new_place_make_one_balance_row():
    item = ItemFactory()
    storage = LocationFactory(name="Storage")
    bench = LocationFactory(name="Bench")
    lot = receive(item, storage, "100")

    def move_one(i):
        return services.transfer_post(
            from_location=storage,
            to_location=bench,
            quantities=[(lot, D("1"))],
            user=None,
            idempotency_key=key(),
        )

    results = run_together(10, move_one)
    assert all(isinstance(r, PostingResult) for r in results), results
    assert Balance.objects.filter(lot=lot, location=bench).count() == 1
    assert Balance.objects.get(lot=lot, location=bench).quantity == D("10")
    assert Balance.objects.get(lot=lot, location=storage).quantity == D("90")
    assert ledger_violations() == []


def test_crossing_transfers_never_deadlock_and_conserve_stock():
    a = LocationFactory(name="A")
    b = LocationFactory(name="B")
    items = [ItemFactory() for _ in range(3)]
    lots = []
    for item in items:
        lot = receive(item, a, "1000")
        services.transfer_post(
            from_location=a,
            to_location=b,
            quantities=[(lot, D("500"))],
            user=None,
            idempotency_key=key(),
        )
        lots.append(lot)

    def shuffle(i):
        source, target = (a, b) if i % 2 == 0 else (b, a)
        order = lots if i % 2 == 0 else list(reversed(lots))
        for _ in range(5):
            services.transfer_post(
                from_location=source,
                to_location=target,
                quantities=[(lot, D("3")) for lot in order],
                user=None,
                idempotency_key=key(),
            )
        return "ok"

    results = run_together(16, shuffle)
    assert results == ["ok"] * 16
    for lot in lots:
        total = sum(Balance.objects.filter(lot=lot).values_list("quantity", flat=True))
        assert total == D("1000")
        assert Balance.objects.get(lot=lot, location=a).quantity == D("500")
    assert ledger_violations() == []


def test_a_hundred_submissions_of_one_form_make_one_posting():
    item = ItemFactory()
    shelf = LocationFactory(name="Storage")
    lot = receive(item, shelf, "1000")
    submitted_key = key()

    def submit(i):
        try:
            return draw(lot, shelf, "7", idempotency_key=submitted_key).posting.pk
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=25) as pool:
        posting_ids = list(pool.map(submit, range(100)))
    assert len(set(posting_ids)) == 1
    assert Posting.objects.filter(kind=PostingKind.DISPATCH).count() == 1
    assert Balance.objects.get(lot=lot, location=shelf).quantity == D("993")
    assert ledger_violations() == []


def test_two_people_adding_the_same_location_at_once_get_one_and_a_message():
    names = ["Drying rack", "drying RACK", "Drying Rack", "DRYING RACK"]

    def add(i):
        try:
            return services.location_save(name=names[i]).pk
        except ValidationError as exc:
            return exc.message_dict["name"][0]

    results = run_together(4, add)
    created = [r for r in results if isinstance(r, int)]
    assert len(created) == 1
    assert Location.objects.filter(name__iexact="drying rack").count() == 1
    refused = [r for r in results if not isinstance(r, int)]
    assert all(r.startswith("There is already a location called") for r in refused)


class _DatabaseSaid(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failing(sqlstate, times, real):
    """A stand-in for the posting transaction that fails `times` times the way PostgreSQL
    reports a deadlock (40P01) or serialization failure (40001), then runs the real one."""
    calls = []

    def write(request):
        calls.append(connection.in_atomic_block)
        if len(calls) <= times:
            error = OperationalError("deadlock detected")
            error.__cause__ = _DatabaseSaid(sqlstate)
            raise error
        return real(request)

    return write, calls


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlock_or_serialization_failure_is_retried_outside_the_transaction(
    monkeypatch, sqlstate
):
    item, shelf = ItemFactory(), LocationFactory(name="Storage")
    lot = receive(item, shelf, "10")
    write, calls = _failing(sqlstate, 2, engine._write)
    monkeypatch.setattr(engine, "_write", write)
    draw(lot, shelf, "4")
    assert calls == [False, False, False]  # three tries, none inside a transaction
    assert Balance.objects.get(lot=lot).quantity == D("6")
    assert Posting.objects.filter(kind=PostingKind.DISPATCH).count() == 1


def test_a_posting_that_keeps_deadlocking_gives_up_with_a_message(monkeypatch):
    item, shelf = ItemFactory(), LocationFactory(name="Storage")
    lot = receive(item, shelf, "10")
    write, calls = _failing("40P01", 99, engine._write)
    monkeypatch.setattr(engine, "_write", write)
    monkeypatch.setattr(engine.time, "sleep", lambda seconds: None)
    with pytest.raises(ValidationError) as err:
        draw(lot, shelf, "4")
    assert err.value.messages == [engine.LOCKED_OUT]
    assert len(calls) == engine.MAX_ATTEMPTS
    assert Balance.objects.get(lot=lot).quantity == D("10")


def test_other_database_errors_are_not_retried(monkeypatch):
    item, shelf = ItemFactory(), LocationFactory(name="Storage")
    lot = receive(item, shelf, "10")
    write, calls = _failing("08006", 1, engine._write)  # connection failure
    monkeypatch.setattr(engine, "_write", write)
    with pytest.raises(OperationalError):
        draw(lot, shelf, "4")
    assert len(calls) == 1
