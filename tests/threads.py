"""Run work in several threads that start at the same moment, each on its own connection."""

import threading

from django.db import connections


def run_together(n_threads, work):
    """Run work(i) in n threads that start at the same moment; return results or exceptions."""
    barrier = threading.Barrier(n_threads)
    results = [None] * n_threads

    def runner(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected and asserted by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results
