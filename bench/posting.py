"""Benchmark: how long one 20-line posting takes on PostgreSQL, and how many SQL statements
a posting needs for 1 line and for 20 (it must not grow with the lines).

    DATABASE_URL=postgres:///loomworks python bench/posting.py [--postings 500]

It works in its own fresh database (the DATABASE_URL name + "_bench"), made and dropped here,
so the workshop's data is never touched. The last line printed is one JSON object.
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_database_url(url: str) -> tuple[str, str]:
    import dj_database_url

    cfg = dj_database_url.parse(url)
    if cfg["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("bench/posting.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    name = f"{cfg['NAME']}_bench"
    base, _, _ = url.rpartition("/")
    query = url.split("?", 1)[1] if "?" in url else ""
    return name, f"{base}/{name}" + (f"?{query}" if query else "")


def recreate(url: str, name: str, *, create: bool = True) -> None:
    from psycopg import sql

    from loomworks.pgcheck import maintenance_connection

    with maintenance_connection(url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=500)
    parser.add_argument("--lines", type=int, default=20)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("Set DATABASE_URL to a PostgreSQL server, e.g. postgres:///loomworks")
    name, bench_url = bench_database_url(url)
    recreate(url, name)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loomworks.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stock.models import Item, Location, PostingKind
    from stock.services import Line, posting_create

    call_command("migrate", verbosity=0)

    shelf = Location.objects.create(name="Bench shelf")
    items = [
        Item.objects.create(sku=f"BENCH-{i:02d}", name=f"Bench material {i}", unit="g")
        for i in range(args.lines)
    ]
    per_lot = Decimal(args.postings + 10)
    receipt = posting_create(
        kind=PostingKind.RECEIPT,
        lines=[
            Line(location=shelf, quantity=per_lot, item=item, unit_cost=Decimal("0.01"))
            for item in items
        ],
        user=None,
        idempotency_key=uuid.uuid4().hex,
    )
    lots = list(receipt.created_lots.order_by("id"))

    def post(n_lines: int):
        return posting_create(
            kind=PostingKind.DISPATCH,
            lines=[Line(location=shelf, quantity=Decimal(-1), lot=lot) for lot in lots[:n_lines]],
            user=None,
            idempotency_key=uuid.uuid4().hex,
        )

    def statements(n_lines: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            post(n_lines)
        return len(ctx.captured_queries)

    statements_1 = statements(1)
    statements_20 = statements(args.lines)
    for _ in range(5):  # warm up connections and plans
        post(args.lines)

    timings = []
    for _ in range(args.postings):
        start = time.perf_counter()
        post(args.lines)
        timings.append((time.perf_counter() - start) * 1000)

    timings.sort()
    median = statistics.median(timings)
    p95 = timings[int(len(timings) * 0.95) - 1]
    connection.close()
    recreate(url, name, create=False)

    print(f"Posted {args.postings} postings of {args.lines} lines on PostgreSQL ({name}).")
    print(f"  median {median:.2f} ms   p95 {p95:.2f} ms   fastest {timings[0]:.2f} ms")
    print(f"  {median / args.lines:.3f} ms per line at the median")
    print(f"  SQL statements: {statements_1} for 1 line, {statements_20} for {args.lines} lines")
    print(f"  statements ratio {args.lines} lines / 1 line: {statements_20 / statements_1:.2f}")
    print(
        json.dumps(
            {
                "median_ms": round(median, 3),
                "p95_ms": round(p95, 3),
                "statements_1_line": statements_1,
                "statements_20_lines": statements_20,
            }
        )
    )


if __name__ == "__main__":
    main()
