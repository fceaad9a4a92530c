#!/usr/bin/env python3
"""Run every SQL statement of Sightline's ClickHouse warehouse on a real ClickHouse.

The statements live in one place, src/warehouse/clickhouse/ (migrations/*.sql and
queries.sql, see the header of queries.sql for the format); the Rust code include_str!s the
same files. This check:

  1. creates the database and the schema_migrations table, applies every migration in
     order, twice (they must be idempotent);
  2. for every insert, compares its declared columns with DESCRIBE TABLE (names and types)
     and inserts one row with those columns;
  3. runs every other statement with its sample `-- arg:` values substituted for the `?`
     placeholders, and for those with `-- returns:` compares the result's column names and
     types with the declaration (which a Rust unit test ties to the Rust row structs).

Any error fails the check. Two targets:

  python3 tests/chdb/check.py                        # chDB: current ClickHouse in-process
                                                     # (pip install chdb-core)
  python3 tests/chdb/check.py --url http://127.0.0.1:18123
                                                     # a server over HTTP, e.g. the 18.16 one
                                                     # started by scripts/start-clickhouse
"""
import argparse
import json
import os
import re
import sys
import tempfile
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CH_DIR = os.path.join(ROOT, "src", "warehouse", "clickhouse")
DATABASE = "sightline_check"

# A sample value for each column type an insert may declare.
SAMPLE = {
    "String": "'x'",
    "Int64": "1714521600000",
    "Int32": "1",
    "UInt64": "1",
    "UInt32": "1",
    "UInt16": "1",
    "UInt8": "1",
    "Float64": "1.5",
    "Date": "'2024-05-01'",
    "Array(String)": "['x']",
    "Array(Int64)": "[1714521600000]",
    "Array(UInt64)": "[1]",
    "Array(UInt32)": "[1]",
    "Array(UInt8)": "[1]",
}


def parse_queries(text):
    """Blocks of queries.sql -> list of dicts (name, args, returns, insert, columns, sql)."""
    out = []
    cur = None
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r"^--\s*(name|arg|returns|insert|columns):\s*(.*)$", s)
        if m:
            key, val = m.group(1), m.group(2).strip()
            if key == "name":
                cur = {"name": val, "args": [], "returns": None, "insert": None,
                       "columns": None, "sql": []}
                out.append(cur)
            elif cur is None:
                raise SystemExit(f"queries.sql: `-- {key}:` before any `-- name:`")
            elif key == "arg":
                cur["args"].append(val)
            elif key in ("returns", "columns"):
                cur[key] = parse_columns(val)
            else:
                cur[key] = val
            continue
        if s.startswith("--") or cur is None:
            continue
        if s:
            cur["sql"].append(line)
    for q in out:
        sql = "\n".join(q["sql"]).strip()
        if sql.endswith(";"):
            sql = sql[:-1].rstrip()
        q["sql"] = sql
        if q["insert"] and (sql or not q["columns"]):
            raise SystemExit(f"queries.sql: insert {q['name']} needs `-- columns:` and no SQL")
        if not q["insert"] and not sql:
            raise SystemExit(f"queries.sql: {q['name']} has no SQL")
        if sql.count("?") != len(q["args"]):
            raise SystemExit(f"queries.sql: {q['name']} has {sql.count('?')} placeholders "
                             f"but {len(q['args'])} sample args")
    return out


def parse_columns(val):
    cols = []
    for part in val.split(","):
        name, typ = part.strip().split(None, 1)
        cols.append((name, typ.strip()))
    return cols


def split_statements(text):
    """Same rule as sql.rs: drop whole-line `--` comments, end a statement at a line ending in `;`."""
    stmts, cur = [], []
    for line in text.splitlines():
        if line.strip().startswith("--"):
            continue
        cur.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(cur).strip()[:-1].strip()
            if stmt:
                stmts.append(stmt)
            cur = []
    if "\n".join(cur).strip():
        raise SystemExit("migration ends with a statement without `;`")
    return stmts


def substitute(sql, args):
    parts = sql.split("?")
    out = parts[0]
    for arg, rest in zip(args, parts[1:]):
        out += arg + rest
    return out


class Chdb:
    name = "chDB"

    def __init__(self):
        from chdb import session  # pip install chdb-core
        import chdb
        self.tmp = tempfile.TemporaryDirectory()
        self.s = session.Session(self.tmp.name)
        self.db = None
        self.version = self.s.query("SELECT version()", "TSV").bytes().decode().strip()
        self.name = f"chDB {getattr(chdb, '__version__', '?')} (ClickHouse {self.version})"

    def run(self, sql, fmt=None):
        if self.db:
            self.s.query(f"USE {self.db}")
        r = self.s.query(sql, fmt or "TSV")
        return r.bytes().decode() if fmt else None

    def use(self, db):
        self.db = db


class Http:
    def __init__(self, url):
        self.url = url.rstrip("/") + "/"
        self.db = None
        self.version = self.run("SELECT version()", "TSV").strip()
        self.name = f"ClickHouse {self.version} at {url}"

    def run(self, sql, fmt=None):
        params = {}
        if self.db:
            params["database"] = self.db
        if fmt:
            params["default_format"] = fmt
        req = urllib.request.Request(self.url + "?" + urllib.parse.urlencode(params),
                                     data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError(e.read().decode(errors="replace").strip()) from None

    def use(self, db):
        self.db = db


# The migrations that create day-total tables, and the per-session additive tables with a
# day-total table `<name>_day`: the tables these migrations create one for (sql.rs
# DAY_TOTAL_TABLES, which a unit test ties to the same files).
DAY_TOTAL_MIGRATIONS = ["0011_day_totals.sql", "0012_session_list.sql"]
DAY_TOTAL_TABLES = [
    t
    for m in DAY_TOTAL_MIGRATIONS
    for t in re.findall(
        r"^CREATE TABLE IF NOT EXISTS (rollup_\w+)_day$",
        open(os.path.join(CH_DIR, "migrations", m)).read(),
        re.M,
    )
]

# What sql.rs `segmented` puts the segment semi-join after.
RANGE_WHERE = "WHERE site = ? AND day >= ? AND day < ?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="ClickHouse HTTP URL; default: chDB in-process")
    opts = ap.parse_args()

    queries = parse_queries(open(os.path.join(CH_DIR, "queries.sql")).read())
    by_name = {q["name"]: q for q in queries}
    mig_dir = os.path.join(CH_DIR, "migrations")
    migrations = sorted(f for f in os.listdir(mig_dir) if f.endswith(".sql"))

    ch = Http(opts.url) if opts.url else Chdb()
    print(f"check: {ch.name}")
    passed, failed = 0, 0

    def step(label, fn):
        nonlocal passed, failed
        try:
            fn()
            passed += 1
            print(f"ok    {label}")
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            msg = str(e).strip().replace("\n", "\n      ")
            print(f"FAIL  {label}\n      {msg}")

    if opts.url:
        # A fresh database per run on a shared server.
        ch.run(f"DROP DATABASE IF EXISTS {DATABASE}")
    create_db = by_name["create_database"]
    step("create_database", lambda: ch.run(substitute(create_db["sql"], create_db["args"])))
    ch.use(DATABASE)
    step("create_schema_migrations", lambda: ch.run(by_name["create_schema_migrations"]["sql"]))
    for rnd in (1, 2):
        for f in migrations:
            for i, stmt in enumerate(split_statements(open(os.path.join(mig_dir, f)).read())):
                step(f"migration {f} #{i + 1} (run {rnd})", lambda stmt=stmt: ch.run(stmt))

    def check_insert(q):
        out = ch.run(f"DESCRIBE TABLE {q['insert']}", "TabSeparated")
        have = {}
        for line in out.splitlines():
            f = line.split("\t")
            have[f[0]] = f[1].replace("\\'", "'")
        problems = []
        for name, typ in q["columns"]:
            if name not in have:
                problems.append(f"{q['insert']}.{name}: declared {typ}, missing in the table")
            elif have[name] != typ:
                problems.append(f"{q['insert']}.{name}: declared {typ}, table has {have[name]}")
        if problems:
            raise RuntimeError("; ".join(problems))
        cols = ", ".join(n for n, _ in q["columns"])
        vals = ", ".join(SAMPLE[t] for _, t in q["columns"])
        ch.run(f"INSERT INTO {q['insert']} ({cols}) VALUES ({vals})")

    def check_query(q):
        sql = substitute(q["sql"], q["args"])
        if not q["returns"]:
            ch.run(sql)
            return
        meta = json.loads(ch.run(sql, "JSONCompact"))["meta"]
        got = [(m["name"], m["type"]) for m in meta]
        if got != q["returns"]:
            raise RuntimeError(f"result columns {got}, declared {q['returns']}")

    # Inserts first, so that the queries run over a row in every table.
    for q in queries:
        if q["insert"]:
            step(f"{q['name']} (insert into {q['insert']})", lambda q=q: check_insert(q))
    # Each insert into a per-session additive table reached its day-total table through the
    # materialized view of migration 0011 or 0012 (sql.rs DAY_TOTAL_TABLES).
    def check_fed(table):
        n = int(ch.run(f"SELECT count() FROM {table}_day", "TSV").strip())
        if n < 1:
            raise RuntimeError(f"{table}_day has no row after an insert into {table}")
    for table in DAY_TOTAL_TABLES:
        step(f"{table}_day is fed by its materialized view", lambda t=table: check_fed(t))
    # ... with the same row as the per-session table, but the session.
    def check_same(table):
        cols = ", ".join(line.split("\t")[0] for line in
                         ch.run(f"DESCRIBE TABLE {table}_day", "TabSeparated").splitlines())
        base = ch.run(f"SELECT {cols} FROM {table} ORDER BY {cols}", "TSV")
        day = ch.run(f"SELECT {cols} FROM {table}_day ORDER BY {cols}", "TSV")
        if base != day:
            raise RuntimeError(f"{table}: {base!r} != {table}_day: {day!r}")
    for table in DAY_TOTAL_TABLES:
        step(f"{table}_day holds the per-session rows' sums", lambda t=table: check_same(t))
    # 0011 and 0012 applied again over stored rows (after a crash before they were recorded)
    # fill the twins from them once, summed per key (0012 first refills rollup_list from the
    # live session rows).
    for m in DAY_TOTAL_MIGRATIONS:
        for i, stmt in enumerate(split_statements(open(os.path.join(mig_dir, m)).read())):
            step(f"{m[:4]} #{i + 1} over stored rows", lambda stmt=stmt: ch.run(stmt))
    for table in DAY_TOTAL_TABLES:
        step(f"{table}_day refilled from the per-session rows", lambda t=table: check_same(t))
    # The day-total variants (sql.rs `day_totals`), before the statements below delete rows:
    # every sum_* and retention delete of an additive table, over its `_day` table.
    def day_variant(q):
        named = [t for t in DAY_TOTAL_TABLES if re.search(rf"\b{t}\b", q["sql"])]
        if len(named) != 1 or not (q["name"].startswith("sum_") or q["name"].startswith("delete_rollup_")):
            return None
        return dict(q, sql=re.sub(rf"\b{named[0]}\b", named[0] + "_day", q["sql"]))
    variants = [v for v in (day_variant(q) for q in queries if not q["insert"]) if v]
    for v in sorted(variants, key=lambda v: v["name"].startswith("delete_")):
        step(f"{v['name']} (day totals)", lambda q=v: check_query(q))
    for q in queries:
        if not q["insert"] and q["name"] != "create_database":
            step(q["name"], lambda q=q: check_query(q))
    # The segment semi-join (store.rs / sql.rs `segmented`): every sum_* and read_* with the range
    # condition, with `session_id IN (<segment_sessions>)` after it, as a query with a
    # segment filter sends it; the placeholders of the semi-join follow the range's three.
    seg = by_name["segment_sessions"]
    for q in queries:
        if q["insert"] or RANGE_WHERE not in q["sql"] or not q["name"].startswith(("sum_", "read_")):
            continue
        composed = dict(q, sql=q["sql"].replace(RANGE_WHERE, f"{RANGE_WHERE} AND session_id IN ({seg['sql']})", 1),
                        args=q["args"][:3] + seg["args"] + q["args"][3:])
        step(f"{q['name']} (with a segment filter)", lambda q=composed: check_query(q))

    # The sessions list's count and page (sql/compose.rs `count_of`, `page_of`) around
    # listed_sessions, as list.rs sends them.
    listed = by_name["listed_sessions"]
    step("listed_sessions (count)", lambda: check_query(dict(
        listed, sql=f"SELECT toUInt64(count()) AS rows FROM ({listed['sql']})", returns=[("rows", "UInt64")])))
    step("listed_sessions (page)", lambda: check_query(dict(
        listed,
        sql=f"SELECT * FROM ({listed['sql']}) WHERE (? = 0 OR start_ts < ? OR (start_ts = ? AND session_key < ?)) "
            "ORDER BY start_ts DESC, session_key DESC LIMIT ?",
        args=listed["args"] + ["1", "1714521600000", "1714521600000", "'k'", "51"])))

    if opts.url:
        ch.use(None)
        ch.run(f"DROP DATABASE IF EXISTS {DATABASE}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
