"""The fast CSV writer writes exactly what ``csv.writer(fh, lineterminator="\\r\\n")`` writes."""

from __future__ import annotations

import csv
import io
import random

from wintriage.store.export import CsvWriter

CELLS = ["", "a", "a,b", 'say "hi"', "line\nbreak", "cr\rhere", "\r\n", ",", '"', '""', " lead", "trail ",
         "\ufeffbom", "한글 이름.pdf", "nul\x00in", "tab\there", "semi;colon", "'single'", None, 0, -1, 2**70, 1.5,
         float("nan"), True, False, b"bytes", ["l", 1], {"k": "v"}]


def _ours(rows: list[list[object]], many: bool) -> str:
    buf = io.StringIO()
    w = CsvWriter(buf)
    if many:
        w.writerows(rows)
    else:
        for r in rows:
            w.writerow(r)
    return buf.getvalue()


def _theirs(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def test_every_cell_alone_and_in_rows() -> None:
    rows: list[list[object]] = [[c] for c in CELLS] + [[], [""], [None], ["", ""], [None, None]]
    rows += [[a, b] for a in CELLS for b in CELLS]
    assert _ours(rows, True) == _theirs(rows)
    assert _ours(rows, False) == _theirs(rows)


def test_random_rows() -> None:
    rng = random.Random(7)
    rows = [[rng.choice(CELLS) for _ in range(rng.randrange(0, 15))] for _ in range(20_000)]
    assert _ours(rows, True) == _theirs(rows)


def test_many_rows_cross_the_buffer() -> None:
    rows = [[i, f"name{i}.txt", "x,y" if i % 97 == 0 else ""] for i in range(10_000)]
    assert _ours(rows, True) == _theirs(rows)
