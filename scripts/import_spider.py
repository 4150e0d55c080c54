"""Import the Spider dev set (InterCode's MySQL dump + questions) for `sqldebug generate --from-db`.

    python scripts/import_spider.py        # ../shared/data/spider -> tests/fixtures/spider
    python scripts/import_spider.py --spider DIR --out DIR [--sqlite DIR]

Reads ``ic_spider_dbs.sql`` (20 databases as one MySQL dump) and ``ic_spider_dev.json`` (1,034
questions with reference SQL) and writes:

- ``OUT/databases/<db>.sql``: each database converted to SQLite (sqlglot, MySQL -> SQLite; see
  ``sqldebug.generation.from_db.mysql_dump_to_sqlite``), as SQLite's own dump (``iterdump``): text,
  small, and ``sqlite3 db.sqlite < db.sql`` (or ``executescript``) makes the database file again;
- ``OUT/questions.jsonl``: the questions in the queries format of ``generate --from-db`` (``db``,
  ``id`` = ``dev-<position in the dev set>``, ``question``, ``sql`` = the gold query, unchanged:
  Spider's gold SQL is written for SQLite);
- ``OUT/README.md``: where the data comes from and its licences (Spider: CC BY-SA 4.0, which
  anything derived from it must carry; InterCode: MIT).

``--sqlite DIR`` also keeps the ``.sqlite`` files. What the conversion skips is printed, by reason.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

from sqldebug.generation.from_db import dataset_id, mysql_dump_to_sqlite

ROOT = Path(__file__).resolve().parent.parent

ATTRIBUTION = """\
# Spider dev set, converted for `sqldebug generate --from-db`

Made by `python scripts/import_spider.py` from InterCode's redistribution of the Spider 1.0 dev
set (princeton-nlp/intercode, `data/sql/spider/`): `ic_spider_dbs.sql` (the 20 dev databases as a
MySQL dump) and `ic_spider_dev.json` (1,034 questions with reference SQL).

- `databases/<db>.sql`: each database converted to SQLite with sqlglot (MySQL -> SQLite:
  collations, `AUTO_INCREMENT`, inline `KEY`s and column-prefix keys dropped), written as SQLite's
  own dump. `wta_1` has its tables but no rows in InterCode's dump.
- `questions.jsonl`: the questions, one JSON object a line: `db`, `id` (`dev-<position in the dev
  set>`), `question`, `sql` (the gold query, unchanged).

## Licences

The Spider data is by Tao Yu, Rui Zhang, Kai Yang, Michihiro Yasunaga, Dongxu Wang, Zifan Li,
James Ma, Irene Li, Qingning Yao, Shanelle Roman, Zilin Zhang and Dragomir Radev: "Spider: A
Large-Scale Human-Labeled Dataset for Complex and Cross-Domain Semantic Parsing and Text-to-SQL
Task", EMNLP 2018 (https://yale-lily.github.io/spider). It is licensed under the Creative Commons
Attribution-ShareAlike 4.0 International licence (CC BY-SA 4.0,
https://creativecommons.org/licenses/by-sa/4.0/). The files of this folder are derived from it
(converted to SQLite, reformatted) and are licensed under CC BY-SA 4.0 too; so is anything made
from them, such as tasks generated on these databases.

InterCode's redistribution is under the MIT licence:

{intercode}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spider", type=Path, default=ROOT.parent / "shared" / "data" / "spider")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "spider")
    parser.add_argument("--sqlite", type=Path, help="also keep the .sqlite files here")
    args = parser.parse_args(argv)
    dump = args.spider / "ic_spider_dbs.sql"
    questions = args.spider / "ic_spider_dev.json"
    for needed in (dump, questions, args.spider / "LICENSE-intercode.md"):
        if not needed.is_file():
            print(f"error: {needed}: no such file", file=sys.stderr)
            return 2
    out: Path = args.out
    (out / "databases").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        target = args.sqlite or Path(tmp)
        report = mysql_dump_to_sqlite(dump, target)
        for name, path in sorted(report.databases.items()):
            conn = sqlite3.connect(path)
            text = "\n".join(conn.iterdump()) + "\n"
            conn.close()
            (out / "databases" / f"{name}.sql").write_text(text, encoding="utf-8")
    converted = ", ".join(f"{k} {v}" for k, v in report.statements.most_common())
    skipped = ", ".join(f"{k} {v}" for k, v in report.skipped.most_common())
    print(f"{len(report.databases)} databases: {converted}")
    print(f"skipped statements: {skipped or 'none'}")
    items = json.loads(questions.read_text(encoding="utf-8"))
    lines = [
        json.dumps(
            {
                "db": item["db"],
                "id": f"dev-{n:04d}",
                "question": item["query"],
                "sql": item["gold"],
            },
            ensure_ascii=False,
        )
        for n, item in enumerate(items)
    ]
    (out / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    known = {dataset_id(Path(n)) for n in report.databases}
    orphans = sum(dataset_id(Path(i["db"])) not in known for i in items)
    print(f"{len(lines)} questions ({orphans} for a database not in the dump)")
    intercode = (args.spider / "LICENSE-intercode.md").read_text(encoding="utf-8").strip()
    quoted = "\n".join(f"> {line}".rstrip() for line in intercode.splitlines())
    (out / "README.md").write_text(ATTRIBUTION.format(intercode=quoted), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
