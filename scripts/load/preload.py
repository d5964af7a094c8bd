#!/usr/bin/env python3
"""Fills a migrated Tenure database with N held grants of production/vdp, as if
N components had been granted, so load runs can measure a manager holding many
grants. Usage: preload.py DATABASE_URL N (sqlite://PATH or postgres://...)."""
import sqlite3
import subprocess
import sys
import time

DAY_MS = 86_400_000


def sql(n: int, now_ms: int, hexid: str, host: str) -> list[str]:
    until = now_ms + 30 * DAY_MS  # nothing expires during the run
    return [
        "INSERT INTO grants (grant_id, environment, product, hostname, port, cores, "
        "ip, version, granted_at, last_renewed, held_until, client_skew_ms) "
        f"SELECT {hexid}, 'production', 'vdp', {host}, 1, 1, NULL, NULL, "
        f"{now_ms}, {now_ms}, {until}, NULL FROM series",
        "INSERT INTO pools (environment, product, version, servers, total_cores) "
        f"VALUES ('production', 'vdp', 0, {n}, {n})",
    ]


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    now_ms = int(time.time() * 1000)
    if url.startswith("sqlite://"):
        db = sqlite3.connect(url[len("sqlite://"):])
        series = f"WITH RECURSIVE series(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM series WHERE x < {n}) "
        grants, pools = sql(n, now_ms, "printf('%032x', x)", "'pre-' || x")
        db.execute(series + grants)
        db.execute(pools)
        db.commit()
        db.close()
    elif url.startswith("postgres"):
        grants, pools = sql(n, now_ms, "lpad(to_hex(x), 32, '0')", "'pre-' || x")
        series = f"WITH series(x) AS (SELECT generate_series(1, {n})) "
        script = f"BEGIN; {series}{grants}; {pools}; COMMIT; ANALYZE grants;"
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", script], check=True)
    else:
        sys.exit(f"preload: unsupported database URL {url}")


if __name__ == "__main__":
    main()
