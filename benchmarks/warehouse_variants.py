"""CPU per hidden variant of a warehouse dataset: copy-and-patch against building it whole.

    python benchmarks/warehouse_variants.py [--tasks tasks] [--variants 8]

A dataset whose big tables are perturbed on a sample (more than ``variants.SAMPLE_ROWS`` rows)
gets its variants by copying the visible database and replacing each big table's sample
(``instances.replace_rows``), with one ``INSERT OR IGNORE`` pass per table. The baseline, in the
same run on the same variant indices, builds each variant from an empty schema, inserting every
row, and falls back to row-by-row inserts in a table where a row is refused (what every variant
cost before). Both must give the same rows (tests/test_variants.py); this prints the CPU time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

from sqldebug import instances
from sqldebug.catalog import load_catalog
from sqldebug.instances import generated_rows
from sqldebug.variants import InstancePool


def _cpu_per_variant(pool: InstancePool, indices: range) -> list[float]:
    out = []
    for i in indices:
        start = time.process_time()
        pool.variant(i)
        out.append(time.process_time() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=None, help="task folder (default: the bundled tasks)")
    parser.add_argument("--variants", type=int, default=8, help="variants per dataset and path")
    args = parser.parse_args()
    catalog = load_catalog(args.tasks)
    indices = range(1000, 1000 + args.variants)
    print(f"{'dataset':<12} {'rows':>7} {'patched ms':>11} {'whole ms':>9} {'ratio':>6}")
    for ds in catalog.datasets.values():
        if ds.generate is None:
            continue
        rows = generated_rows(ds.ddl, ds.rows, ds.generate)
        patched = InstancePool(ds.id, ds.ddl, rows)
        whole = InstancePool(ds.id, ds.ddl, rows)
        whole._rowids.clear()  # nothing to replace by: every row goes in, as before
        fast = statistics.median(_cpu_per_variant(patched, indices))
        with mock.patch.object(instances, "_insert_or_ignore", lambda *a: False):
            slow = statistics.median(_cpu_per_variant(whole, indices))
        n = sum(len(r) for r in rows.values())
        print(f"{ds.id:<12} {n:>7,} {fast * 1e3:>11.0f} {slow * 1e3:>9.0f} {slow / fast:>5.1f}x")


if __name__ == "__main__":
    main()
