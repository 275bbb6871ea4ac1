"""Completions racing each other on PostgreSQL, in real transactions from separate threads."""

from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from batches import services
from batches.models import Batch, Status
from stock.models import Balance, Movement, Posting
from tests.batches.conftest import key, plan, planned_uses
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def _complete(c, batch, uses=None):
    return services.stage_complete(
        batch=batch,
        position=0,
        uses=planned_uses(c) if uses is None else uses,
        made=[
            services.Made(variant=c.lavender, saleable=D(5)),
            services.Made(variant=c.cedar, saleable=D(5)),
        ],
        user=None,
        idempotency_key=key(),
    )


def test_twenty_tablets_completing_one_batch_complete_it_once(candle):
    batch = plan(candle)
    results = run_together(20, lambda i: _complete(candle, batch))
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(1 for r in results if not r.replayed) == 1
    assert Posting.objects.filter(owner="batches", owner_ref=batch.reference).count() == 1
    assert Balance.objects.get(lot=candle.lots["JAR"]).quantity == 10
    batch.refresh_from_db()
    assert batch.status == Status.COMPLETED


def test_two_batches_racing_for_the_last_jars_one_completes_the_other_is_told(candle):
    first, second = plan(candle), plan(candle)
    # 20 jars on the shelf; each batch wants 12.
    uses = [*planned_uses(candle)[:3], services.Use(item=candle.jar, quantity=D(12))]
    uses[0] = services.Use(item=candle.wax, quantity=D(500))
    results = run_together(2, lambda i: _complete(candle, [first, second][i], uses=uses))
    failures = [r for r in results if isinstance(r, ValidationError)]
    assert len(failures) == 1
    assert "Not enough Amber jar at Bench: need 12 each, have 8" in str(failures[0])
    loser = [first, second][results.index(failures[0])]
    loser.refresh_from_db()
    assert loser.status == Status.PLANNED  # its start went with the failed posting
    assert not Movement.objects.filter(posting__owner_ref=loser.reference).exists()
    assert Balance.objects.get(lot=candle.lots["JAR"]).quantity == 8
    assert Batch.objects.filter(status=Status.COMPLETED).count() == 1
