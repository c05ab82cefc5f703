"""A bounded load on a real server over PostgreSQL, with PostgreSQL stopped and started
and then the server killed (SIGKILL) and started again in the middle of it
(``loadfault``): no acknowledged write is lost, the change log has no gap and no
repeat, and the clients (``Client``, ``Client.sync_list``) get going again by
themselves, seeing 503s while the database is away; on SQLite the same through the
kill. Correctness only: the figures are
``benchmarks/bench_registry_load.py``'s."""

from __future__ import annotations

from . import loadfault


def run_load(cluster, folder: str):
    """Run the bounded load with its faults; check the common outcome; return the
    figures and the set of statuses seen in each phase."""
    report = loadfault.run(cluster, folder, seconds=2.0)
    counts = loadfault.check(report)
    fig = loadfault.figures(report)
    print(counts)
    print(loadfault.table(fig))
    assert report.errors == []
    assert counts["cases"] >= 10 and counts["withdrawals"] >= 1, counts
    return fig, {phase: set(c) for phase, c in fig["outage"].items()}


def test_load_through_a_postgresql_restart_and_a_kill_9(pg_cluster, tmp_path):
    fig, statuses = run_load(pg_cluster, str(tmp_path))
    # while PostgreSQL is away the answers are 503s (lookups may still come from memory);
    # while the server is away there is no answer; never anything else
    assert "503" in statuses["pg-down"] and statuses["pg-down"] <= {"200", "503"}, statuses
    assert all(s <= {"0", "200", "503"} for s in statuses.values()), statuses
    assert "200" in statuses["after"]
    # every kind of client succeeded again after each fault, by itself
    assert all(t is not None for t in fig["recovery_s"].values()), fig["recovery_s"]


def test_load_through_a_kill_9_on_sqlite(tmp_path):
    fig, statuses = run_load(None, str(tmp_path))
    assert set(statuses) == {"steady", "server-down", "after"}
    assert "0" in statuses["server-down"], statuses
    assert all(s <= {"0", "200", "503"} for s in statuses.values()), statuses
    assert "200" in statuses["after"]
    assert all(t is not None for t in fig["recovery_s"].values()), fig["recovery_s"]
