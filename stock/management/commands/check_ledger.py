from django.core.management.base import BaseCommand, CommandError

from stock.checks import ledger_summary, ledger_violations


class Command(BaseCommand):
    help = (
        "Verify the stock ledger: every balance equals the sum of its movements and is not "
        "negative, every posting has movements, no unit cost is negative. Exits 1 on a violation."
    )

    def handle(self, *args, **options):
        summary = ledger_summary()
        self.stdout.write(
            "Checked {postings} postings, {movements} movements, {lots} lots, "
            "{balances} balances.".format(**summary)
        )
        problems = ledger_violations()
        if problems:
            for line in problems:
                self.stderr.write(f"  - {line}")
            raise CommandError(f"The ledger has {len(problems)} violation(s).", returncode=1)
        self.stdout.write(self.style.SUCCESS("The ledger is sound."))
