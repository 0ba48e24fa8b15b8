"""Wrap a scale case (``bench/make_scale_case.py``) into a raw disk image, so ``wintriage analyze scale.dd`` measures
the whole path, collection from an image included.

    python bench/make_scale_image.py --case /tmp/scale1M -o /tmp/scale1M.dd [--image scenario/public-1.E01]

How (everything else on the disk is the real image's):

1. The source media is copied to a sparse raw file (all-zero MiBs are skipped, not written).
2. On its primary NTFS volume, two free cluster runs are taken from the volume's ``$Bitmap``: one receives the
   case's grown ``$MFT``, the other its grown ``$UsnJrnl:$J``; both runs are then marked allocated in ``$Bitmap``.
3. In the grown ``$MFT``: record 0's unnamed ``$DATA`` attribute gets one mapping pair (the new run) and the new
   sizes; the ``$UsnJrnl`` record's ``$J`` attribute gets a sparse run for the journal's unused head (up to its
   first USN, as Windows keeps it) and then the new run. Both records are re-protected with their update sequence
   and written at the new location and at the old one (the boot sector keeps pointing at the old ``$MFT``,
   whose record 0 now maps the new run).

Not updated, because no reader here depends on them: ``$MFTMirr``, the ``$MFT``'s own ``$BITMAP`` attribute, and
the directory indexes of the cloned records (the ``$MFT`` walk finds them; a directory listing does not).
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from make_scale_case import DEFAULT_IMAGE, attrs, fn_name, protect, unprotect  # noqa: E402

from wintriage.artifacts.mft import decode_runs  # noqa: E402
from wintriage.evidence.image import open_image  # noqa: E402
from wintriage.evidence.volumes import list_volumes, primary_ntfs  # noqa: E402

MIB = 1 << 20


def encode_runs(runs: list[tuple[int, int | None]]) -> bytes:
    out = bytearray()
    prev = 0
    for length, lcn in runs:
        lb = length.to_bytes((length.bit_length() + 8) // 8, "little")
        if lcn is None:
            out += bytes([len(lb)]) + lb
            continue
        d = lcn - prev
        ob = d.to_bytes((d.bit_length() + 8) // 8 if d >= 0 else ((~d).bit_length() + 8) // 8, "little", signed=True)
        out += bytes([len(ob) << 4 | len(lb)]) + lb + ob
        prev = lcn
    return bytes(out + b"\x00")


def data_attr(rec: bytearray, name: str) -> int:
    """Offset of the non-resident $DATA attribute named ``name`` ('' = unnamed)."""
    for typ, pos, nonres, _vo, _vl in attrs(rec):
        if typ != 0x80 or not nonres:
            continue
        nlen, noff = rec[pos + 9], struct.unpack_from("<H", rec, pos + 10)[0]
        if bytes(rec[pos + noff:pos + noff + 2 * nlen]).decode("utf-16-le") == name:
            return pos
    raise ValueError(f"no non-resident $DATA {name!r}")


def set_runs(rec: bytearray, pos: int, runs: list[tuple[int, int | None]], size: int, cluster: int) -> None:
    """Rewrite a non-resident attribute's mapping pairs and sizes; the attribute grows in place (the attributes
    after it move down the record) when the new mapping pairs need more room."""
    alen = struct.unpack_from("<I", rec, pos + 4)[0]
    mp = struct.unpack_from("<H", rec, pos + 0x20)[0]
    enc = encode_runs(runs)
    need = (mp + len(enc) + 7) & ~7
    if need > alen:
        used, alloc = struct.unpack_from("<II", rec, 0x18)
        delta = need - alen
        if used + delta > alloc:
            raise ValueError(f"the record has {alloc - used} free bytes, the mapping pairs need {delta} more")
        rec[pos + alen:used + delta] = bytes(delta) + rec[pos + alen:used]
        del rec[alloc:]
        struct.pack_into("<I", rec, 0x18, used + delta)
        struct.pack_into("<I", rec, pos + 4, need)
        alen = need
    rec[pos + mp:pos + alen] = enc + bytes(alen - mp - len(enc))
    clusters = sum(n for n, _ in runs)
    struct.pack_into("<QQ", rec, pos + 0x10, 0, clusters - 1)  # lowest / highest VCN
    struct.pack_into("<QQQ", rec, pos + 0x28, clusters * cluster, size, size)  # allocated, data, initialised


def take_free(bits: np.ndarray, clusters: int) -> list[tuple[int, int | None]]:
    """Free clusters for ``clusters``, first fit in LCN order: [(count, lcn)]; marks them used in ``bits``."""
    free = np.concatenate(([0], 1 - bits.astype(np.int8), [0]))
    d = np.diff(free)
    out: list[tuple[int, int | None]] = []
    for st, en in zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True):
        n = min(en - st, clusters)
        out.append((n, st))
        bits[st:st + n] = 1
        clusters -= n
        if not clusters:
            return out
    raise ValueError("not enough free clusters")


def write_runs(wr: Any, runs: list[tuple[int, int | None]], data: bytes, cluster: int) -> None:
    pos = 0
    for n, lcn in runs:
        if lcn is not None:
            wr(lcn * cluster, data[pos:pos + n * cluster])
        pos += n * cluster


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--case", type=Path, required=True, help="a folder built by make_scale_case.py")
    ap.add_argument("-o", "--out", type=Path, required=True, help="the raw image to write")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    img = open_image(a.image)
    vol = primary_ntfs(list_volumes(img))
    assert vol is not None, "no NTFS volume"
    base = vol.start_sector * vol.sector_size
    with open(a.out, "wb") as fo:  # a sparse copy of the media
        fo.truncate(img.size)
        zero = bytes(MIB)
        for off in range(0, img.size, MIB):
            chunk = img.read(off, min(MIB, img.size - off))
            if chunk != zero[:len(chunk)]:
                fo.seek(off)
                fo.write(chunk)
    img.close()

    with open(a.out, "r+b") as fh:
        def rd(off: int, n: int) -> bytes:
            fh.seek(base + off)
            return fh.read(n)

        def wr(off: int, data: bytes) -> None:
            fh.seek(base + off)
            fh.write(data)

        boot = rd(0, 512)
        bps, spc = struct.unpack_from("<HB", boot, 0x0B)
        cluster = bps * spc
        mft_lcn = struct.unpack_from("<Q", boot, 0x30)[0]
        rs = 1024
        old = bytearray(rd(mft_lcn * cluster, rs * 16))

        def old_rec(n: int) -> bytearray:
            return unprotect(bytes(old[n * rs:(n + 1) * rs]))

        # the volume bitmap: record 6's unnamed $DATA
        r6 = old_rec(6)
        bm_pos = data_attr(r6, "")
        alen, mp = struct.unpack_from("<I", r6, bm_pos + 4)[0], struct.unpack_from("<H", r6, bm_pos + 0x20)[0]
        bm_runs = [(n, lcn) for lcn, n in decode_runs(bytes(r6[bm_pos + mp:bm_pos + alen]))]
        bm_size = struct.unpack_from("<Q", r6, bm_pos + 0x30)[0]
        bm = b"".join(rd(lcn * cluster, n * cluster) for n, lcn in bm_runs if lcn is not None)[:bm_size]
        bitmap = np.frombuffer(bm, dtype=np.uint8).copy()

        mft = bytearray((a.case / "$MFT").read_bytes())
        j = (a.case / "$Extend" / "$J").read_bytes()
        mft_clusters = -(-len(mft) // cluster)
        j_clusters = -(-len(j) // cluster)
        total = struct.unpack_from("<Q", boot, 0x28)[0] // spc
        bits = np.unpackbits(bitmap, bitorder="little")
        bits[total:] = 1  # past the volume's last cluster
        mft_runs = take_free(bits, mft_clusters)
        j_runs = take_free(bits, j_clusters)
        bitmap = np.packbits(bits, bitorder="little")[:len(bm)]

        # record 0: $MFT's $DATA -> the new runs
        r0 = unprotect(bytes(mft[0:rs]))
        set_runs(r0, data_attr(r0, ""), mft_runs, len(mft), cluster)
        mft[0:rs] = protect(r0)

        # the $UsnJrnl record: $J -> sparse head (up to the first USN) + the new run
        first_usn = struct.unpack_from("<Q", j, 24)[0]
        head = first_usn // cluster
        usn_rec = None
        for n in range(len(mft) // rs):
            rec = bytes(mft[n * rs:(n + 1) * rs])
            if rec[:4] != b"FILE":
                continue
            try:
                u = unprotect(rec)
            except ValueError:
                continue
            if any(t == 0x30 and not nr and fn_name(u, vo) == "$UsnJrnl" for t, _p, nr, vo, _vl in attrs(u)):
                usn_rec = n
                pos = data_attr(u, "$J")
                runs: list[tuple[int, int | None]] = ([(head, None)] if head else []) + j_runs
                set_runs(u, pos, runs, head * cluster + len(j), cluster)
                mft[n * rs:(n + 1) * rs] = protect(u)
                break
        if usn_rec is None:
            raise ValueError("no $UsnJrnl record")
        if head * cluster != first_usn:
            print(f"note: first USN {first_usn} is not cluster-aligned; the journal starts at {head * cluster}")

        write_runs(wr, mft_runs, bytes(mft), cluster)
        write_runs(wr, j_runs, j, cluster)
        # record 0 at the old location too: the boot sector leads there, and from there to the new run
        wr(mft_lcn * cluster, bytes(mft[0:rs]))
        # $Bitmap back, over its own runs
        pos = 0
        for n, lcn in bm_runs:
            if lcn is None:
                continue
            part = bitmap.tobytes()[pos:pos + n * cluster]
            if part:
                wr(lcn * cluster, part)
            pos += n * cluster
    print(f"{a.out}: {a.out.stat().st_size:,} bytes (sparse); C: at byte {base}, cluster {cluster}; "
          f"$MFT {len(mft):,} bytes in {len(mft_runs)} runs; $J {len(j):,} bytes in {len(j_runs)} runs after a {head * cluster:,}-byte "
          f"sparse head ($UsnJrnl = record {usn_rec}); {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
