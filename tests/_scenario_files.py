"""Read single files out of scenario/public-1.E01 (C: at byte offset 105906176) for artefact tests."""

from __future__ import annotations

from pathlib import Path

C_OFFSET = 105906176


def read_from_image(image: Path, paths: list[str]) -> dict[str, bytes]:
    """``{path: bytes}`` for NTFS paths like ``\\Windows\\Prefetch\\X.pf`` on the scenario's C: volume."""
    import pyfsntfs

    from wintriage.evidence.image import ImageFile, open_image

    out: dict[str, bytes] = {}
    with open_image(image) as img:
        vol = pyfsntfs.volume()
        vol.open_file_object(ImageFile(img, C_OFFSET))
        try:
            for p in paths:
                e = vol.get_file_entry_by_path(p)
                out[p] = e.read_buffer(e.size) if e.size else b""
        finally:
            vol.close()
    return out


def extract(image: Path, paths: list[str], dest: Path) -> dict[str, Path]:
    """Write the files into ``dest`` mirroring their volume paths; returns ``{path: local path}``."""
    res = {}
    for p, data in read_from_image(image, paths).items():
        local = dest.joinpath(*p.strip("\\").split("\\"))
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        res[p] = local
    return res
