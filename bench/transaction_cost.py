"""Benchmark: what a transaction's BEGIN and COMMIT cost around one statement.

    .venv/bin/python -m bench.transaction_cost [--ops 5000] [--blocks 6]

The merchant counter's scan and grant are each one short transaction: psycopg sends
BEGIN before the first statement and COMMIT after the last, two round trips of their
own. This measures what those two cost, the way the counter's hot statements run
(points/infra/hot.py) (a connection from the engine's pool, the statement on the driver's
cursor, the connection back to the pool), in alternating blocks so a drift of the
machine's speed hits both alike:

- in a transaction: `connect()`, `begin()`, the statement, `commit()`, `close()`;
- in autocommit: the same on an engine with `isolation_level="AUTOCOMMIT"`, where
  the statement commits itself (one round trip).

The statement is a one-row SELECT, so the difference is the transaction's own cost.
Prints, per transaction, the wall time, this process's CPU and PostgreSQL's.
"""
from __future__ import annotations

import argparse
import time

from sqlalchemy import create_engine

from bench.common import BENCH_DB, cpu_seconds, median, psycopg_url, report

SQL = "SELECT %(n)s::int"


def _block(engine, ops: int, in_transaction: bool) -> tuple[float, float, float]:
    """(wall, this process's CPU, PostgreSQL's CPU) in µs per operation."""
    wall, cpu, server = time.perf_counter(), time.process_time(), cpu_seconds()["postgres"]
    for n in range(ops):
        with engine.connect() as connection:
            transaction = connection.begin() if in_transaction else None
            cursor = connection.connection.cursor()
            cursor.execute(SQL, {"n": n})
            cursor.fetchone()
            cursor.close()
            if transaction is not None:
                transaction.commit()
    per_op = 1e6 / ops
    return ((time.perf_counter() - wall) * per_op, (time.process_time() - cpu) * per_op,
            (cpu_seconds()["postgres"] - server) * per_op)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--blocks", type=int, default=6)
    args = parser.parse_args()
    engines = {
        "in a transaction": create_engine(psycopg_url(BENCH_DB), pool_size=1),
        "in autocommit": create_engine(psycopg_url(BENCH_DB), pool_size=1,
                                       isolation_level="AUTOCOMMIT"),
    }
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in engines}
    for name, engine in engines.items():  # warm: connected, statement prepared
        _block(engine, 200, name == "in a transaction")
    for block in range(args.blocks):
        for name, engine in engines.items():
            figures[name].append(_block(engine, args.ops, name == "in a transaction"))
            wall, cpu, server = figures[name][-1]
            print(f"  block {block + 1} {name}: wall {wall:.0f} µs, this process "
                  f"{cpu:.0f} µs, PostgreSQL {server:.0f} µs per operation")
    out: dict[str, object] = {"operations per block": args.ops, "blocks": args.blocks}
    medians = {name: [median([row[i] for row in rows]) for i in range(3)]
               for name, rows in figures.items()}
    for name, (wall, cpu, server) in medians.items():
        out[f"{name} (median)"] = (f"wall {wall:.0f} µs, this process {cpu:.0f} µs, "
                                   f"PostgreSQL {server:.0f} µs")
    tx, auto = medians["in a transaction"], medians["in autocommit"]
    out["BEGIN + COMMIT cost"] = (f"wall {tx[0] - auto[0]:.0f} µs, this process "
                                  f"{tx[1] - auto[1]:.0f} µs, PostgreSQL {tx[2] - auto[2]:.0f} µs"
                                  " per transaction")
    report("a transaction's BEGIN and COMMIT, one-row statement, pooled connection", out)
    for engine in engines.values():
        engine.dispose()


if __name__ == "__main__":
    main()
