"""On PostgreSQL the database itself refuses UPDATE and DELETE of postings and movements."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION stock_ledger_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'The stock ledger is append-only: % on % refused; post a correction instead.',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION stock_ledger_is_append_only();
"""
TABLES = ["stock_posting", "stock_movement"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, None)
    for table in TABLES:
        schema_editor.execute(TRIGGER.format(table=table))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS stock_ledger_is_append_only()")


class Migration(migrations.Migration):
    dependencies = [("stock", "0001_ledger")]

    operations = [migrations.RunPython(forwards, backwards)]
