"""On PostgreSQL the database itself guards the ledger:

- allocations, losses and quarantine events are append-only, like postings and movements;
- what a lot is (item, code, unit cost, creating posting) never changes, a lot is never
  deleted, and `voided_by` is set once (by the reversal of the posting that made the lot);
- TRUNCATE of a ledger table is refused (row triggers do not see it), unless the session says
  `SET loomworks.allow_truncate = 'on'` (the test suite does, to empty its own database).
"""

from django.db import migrations

APPEND_ONLY = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION stock_ledger_is_append_only();
"""
APPEND_ONLY_TABLES = ["stock_allocation", "stock_loss", "stock_quarantineevent"]

LOT_GUARD = """
CREATE OR REPLACE FUNCTION stock_lot_is_what_it_was() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'Lots are never deleted: reverse the posting that made lot %.', OLD.code
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.item_id <> OLD.item_id OR NEW.code <> OLD.code OR NEW.unit_cost <> OLD.unit_cost
       OR NEW.created_by_posting_id <> OLD.created_by_posting_id THEN
        RAISE EXCEPTION 'Lot % keeps its item, code, unit cost and creating posting.', OLD.code
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.voided_by_id IS NOT NULL AND NEW.voided_by_id IS DISTINCT FROM OLD.voided_by_id THEN
        RAISE EXCEPTION 'Lot % was voided by posting % and stays so.', OLD.code, OLD.voided_by_id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER stock_lot_guard BEFORE UPDATE OR DELETE ON stock_lot
FOR EACH ROW EXECUTE FUNCTION stock_lot_is_what_it_was();
"""

NO_TRUNCATE = """
CREATE OR REPLACE FUNCTION stock_ledger_no_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('loomworks.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'The stock ledger is never truncated (% refused).', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""
TRUNCATE_TABLES = [
    "stock_posting",
    "stock_movement",
    "stock_lot",
    "stock_balance",
    "stock_allocation",
    "stock_loss",
    "stock_quarantineevent",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(APPEND_ONLY.format(table=table))
    schema_editor.execute(LOT_GUARD, None)
    schema_editor.execute(NO_TRUNCATE, None)
    for table in TRUNCATE_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION stock_ledger_no_truncate()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TRUNCATE_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS stock_ledger_no_truncate()")
    schema_editor.execute("DROP TRIGGER IF EXISTS stock_lot_guard ON stock_lot")
    schema_editor.execute("DROP FUNCTION IF EXISTS stock_lot_is_what_it_was()")
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")


class Migration(migrations.Migration):
    dependencies = [("stock", "0005_production_ledger")]

    operations = [migrations.RunPython(forwards, backwards)]
