"""Synthetic incident cases for analyzer tests, written with the real table schemas of the parsers.

A case is built the way Windows would record it: USN journal records with the reason flags and CLOSE records
Windows writes, prefetch run times, BAM/UserAssist entries, browser downloads with their url chains,
Zone.Identifier streams and Run keys. Variants cover what the analyzers must survive: appended / replaced
extensions or random names, rename-in-place or copy-then-delete, a payload that deletes itself or is
timestomped, multi-hop download chains, Edge or Chrome, long dwell times, decoy bulk renames.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from wintriage import artifacts
from wintriage.model import Record
from wintriage.store.case import CaseWriter
from wintriage.timeutil import from_iso

SEC = 10_000_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR

CREATE, DELETE, OVERWRITE, EXTEND, OLD, NEW, CLOSE = 0x100, 0x200, 0x1, 0x2, 0x1000, 0x2000, 0x80000000


@dataclass
class Variant:
    user: str = "minji"
    ext_style: str = "append"  # append | replace | random
    enc_style: str = "rename"  # rename | copy
    new_ext: str = ".kraken"
    browser: str = "Chrome"  # Chrome | Edge
    chain_hops: int = 1
    payload_self_delete: bool = False
    payload_timestomp: bool = False
    dwell: int = 90 * MIN  # dropper run -> encryption
    decoys: tuple[str, ...] = ("photo_rename", "format_convert", "backup", "unzip")
    files: int = 120
    note: str = "HOW_TO_DECRYPT.txt"
    payload_name: str = "svc_update.exe"
    payload_dir: str = "AppData\\Local\\Temp"
    dropper_name: str = "Free Tool Setup.exe"
    with_incident: bool = True


@dataclass
class Truth:
    first_original_path: str = ""
    first_original_name: str = ""
    first_encrypted_name: str = ""
    first_time: int = 0
    encrypted_count: int = 0
    new_extension: str = ""
    note_name: str = ""
    payload_path: str = ""
    payload_first_exec: int = 0
    download_url: str = ""
    url_chain: list[str] = field(default_factory=list)
    referrer: str = ""
    file_name: str = ""
    file_path: str = ""
    downloaded: int = 0
    executed: int = 0


class Builder:
    def __init__(self, db: Path, seed: int = 1) -> None:
        self.w = CaseWriter(db)
        self.rnd = random.Random(seed)
        for name in ("usnjrnl", "mft", "prefetch", "browser", "registry"):
            self.w.ensure_tables(artifacts.load(name).TABLES)
        self.sid = {t: self.w.add_source(t, f"synthetic/{t}") for t in ("usnjrnl", "mft", "prefetch", "browser", "registry")}
        self.usn = 1_000_000
        self.next_entry = 1000
        self.dirs: dict[str, int] = {}
        self.files: dict[int, tuple[str, str, int]] = {}  # entry -> (parent path, name, seq)

    # --- file system ----------------------------------------------------------------------------
    def dir(self, path: str) -> int:
        if path not in self.dirs:
            self.dirs[path] = self.next_entry
            self.next_entry += 1
        return self.dirs[path]

    def _rec(self, entry: int, name: str, parent: str, t: int, reason: int) -> None:
        seq = self.files[entry][2] if entry in self.files else 1
        self.w.add(Record("usnjrnl", {
            "usn": self.usn, "timestamp": t, "name": name, "extension": name.rsplit(".", 1)[-1] if "." in name else "",
            "entry": entry, "sequence": seq, "parent_entry": self.dir(parent), "parent_sequence": 1,
            "parent_path": parent, "reason_flags": reason, "reasons": hex(reason), "major_version": 2}), self.sid["usnjrnl"])
        self.usn += 96

    def create(self, parent: str, name: str, t: int, size: int = 1000) -> int:
        e = self.next_entry
        self.next_entry += 1
        self.files[e] = (parent, name, 1)
        self._rec(e, name, parent, t, CREATE)
        self._rec(e, name, parent, t, CREATE | EXTEND)
        self._rec(e, name, parent, t + 2000, CREATE | EXTEND | CLOSE)
        return e

    def write(self, e: int, t: int) -> None:
        p, n, _ = self.files[e]
        self._rec(e, n, p, t, OVERWRITE)
        self._rec(e, n, p, t + 1000, OVERWRITE | CLOSE)

    def rename(self, e: int, new: str, t: int) -> None:
        p, n, s = self.files[e]
        self._rec(e, n, p, t, OLD)
        self.files[e] = (p, new, s)
        self._rec(e, new, p, t, NEW)
        self._rec(e, new, p, t + 1000, NEW | CLOSE)

    def delete(self, e: int, t: int) -> None:
        p, n, _ = self.files[e]
        self._rec(e, n, p, t, DELETE | CLOSE)

    def mft_row(self, e: int, created: int, *, si_created: int | None = None, in_use: bool = True) -> None:
        p, n, s = self.files[e]
        self.w.add(Record("mft", {"entry": e, "sequence": s, "parent_entry": self.dir(p), "name": n, "in_use": int(in_use),
                                  "parent_path": p, "full_path": p + "\\" + n, "fn_created": created,
                                  "si_created": si_created or created}), self.sid["mft"])

    # --- execution, web, registry -----------------------------------------------------------------
    def run(self, path: str, t: int, *, sid: str, user: str, ua: bool = True) -> None:
        name = path.rsplit("\\", 1)[-1]
        vol = "\\VOLUME{01d0000000000000-12345678}" + path[2:].upper()
        self.w.add(Record("prefetch_runs", {"run_time": t, "executable_name": name.upper(), "executable_path": vol,
                                            "source_filename": name.upper() + "-ABCDEF01.pf", "is_last_run": 1}), self.sid["prefetch"])
        self.w.add(Record("reg_bam", {"program": "\\Device\\HarddiskVolume3" + path[2:], "last_run": t + 200_000, "sid": sid,
                                      "key_path": f"ControlSet001\\Services\\bam\\State\\UserSettings\\{sid}"}), self.sid["registry"])
        if ua:
            self.w.add(Record("reg_userassist", {"program_name": path, "run_count": 1, "last_run": t, "user": user}), self.sid["registry"])

    def download(self, chain: list[str], path: str, start: int, *, referrer: str, browser: str, user: str) -> None:
        self.w.add(Record("browser_downloads", {
            "browser": browser, "profile": "Default", "user": user, "url": chain[0], "final_url": chain[-1],
            "url_chain": json.dumps(chain), "target_path": path, "current_path": path, "start_time": start,
            "end_time": start + 2 * SEC, "total_bytes": 200_000, "received_bytes": 200_000, "state": 1,
            "referrer": referrer, "tab_url": referrer}), self.sid["browser"])

    def zone(self, path: str, host: str, ref: str) -> None:
        self.w.add(Record("zone_identifier", {"path": path.replace("C:", "").replace("\\", "/") + ":Zone.Identifier",
                                              "zone_id": "3", "host_url": host, "referrer_url": ref}), self.sid["mft"])

    def runkey(self, user: str, sid: str, name: str, command: str) -> None:
        self.w.add(Record("reg_runkeys", {"hive_path": f"Users/{user}/NTUSER.DAT", "user": user, "sid": sid, "hive_type": "NTUSER",
                                          "location": "Run", "value_name": name, "command": command,
                                          "key_path": "Software\\Microsoft\\Windows\\CurrentVersion\\Run"}), self.sid["registry"])

    def close(self) -> None:
        self.w.close()


def build(db: Path, v: Variant, seed: int = 1) -> Truth:
    b = Builder(db, seed)
    rnd = b.rnd
    truth = Truth()
    sid = "S-1-5-21-1111111111-2222222222-3333333333-1001"
    home = f"C:\\Users\\{v.user}"
    rel = home[2:]
    folders = [rel + "\\Desktop", rel + "\\Documents", rel + "\\Documents\\업무", rel + "\\Pictures", rel + "\\Downloads"]
    t = from_iso("2024-11-01T00:00:00Z")
    exts = [".docx", ".xlsx", ".pdf", ".hwp", ".jpg", ".txt", ".pptx"]
    docs: list[int] = []
    for i in range(v.files):  # a month of ordinary work
        f = rnd.choice(folders)
        name = f"문서 {i:03d}{rnd.choice(exts)}" if i % 3 else f"report_{i:03d}{rnd.choice(exts)}"
        e = b.create(f, name, t + i * 3 * HOUR)
        b.mft_row(e, t + i * 3 * HOUR)
        docs.append(e)
        if i % 7 == 0:
            b.write(e, t + i * 3 * HOUR + HOUR)
    for i in range(30):  # long-standing programs
        b.run("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", t + i * DAY, sid=sid, user=v.user)
        b.run("C:\\Windows\\System32\\notepad.exe", t + i * DAY + 5 * HOUR, sid=sid, user=v.user)
    td = t + 32 * DAY
    # decoys of legitimate bulk activity, days before the incident
    if "photo_rename" in v.decoys:
        for i in range(80):
            e = b.create(rel + "\\Pictures\\Import", f"IMG_{i:04d}.jpg", td - 3 * DAY + i * SEC)
            b.rename(e, f"Jeju trip {i:04d}.jpg", td - 3 * DAY + HOUR + i * SEC)
    if "format_convert" in v.decoys:
        for i in range(60):
            e = b.create(rel + "\\Pictures\\Scans", f"scan_{i:03d}.jpeg", td - 2 * DAY + i * SEC)
            b.rename(e, f"scan_{i:03d}.jpg", td - 2 * DAY + HOUR + i * SEC)
    if "backup" in v.decoys:
        for i, e in enumerate(docs[:50]):
            p, n, _ = b.files[e]
            b.create(p, n + ".bak", td - DAY + i * SEC)
    if "unzip" in v.decoys:
        for i in range(100):
            b.create(rel + "\\Downloads\\fonts", f"font_{i:03d}{rnd.choice(['.ttf', '.otf', '.txt'])}", td - DAY + HOUR + i * 100_000)
    if not v.with_incident:
        b.close()
        return truth
    # the download
    host = "https://cdn.free-tools.example"
    chain = [f"https://go.free-tools.example/r{h}" for h in range(v.chain_hops - 1)] + [f"{host}/dl/{v.dropper_name.replace(' ', '%20')}"]
    referrer = "https://free-tools.example/download-page"
    dl_path = f"{home}\\Downloads\\{v.dropper_name}"
    t_dl = td + 3 * HOUR
    b.download(chain, dl_path, t_dl, referrer=referrer, browser=v.browser, user=v.user)
    e_dl = b.create(rel + "\\Downloads", v.dropper_name, t_dl)
    b.mft_row(e_dl, t_dl)
    b.zone(dl_path, chain[-1], referrer)
    t_exec = t_dl + 2 * MIN + 123_4560
    b.run(dl_path, t_exec, sid=sid, user=v.user)
    # the dropper drops the payload and sets persistence
    payload = f"{home}\\{v.payload_dir}\\{v.payload_name}"
    pdir = rel + "\\" + v.payload_dir
    t_drop = t_exec + 3 * SEC
    e_pay = b.create(pdir, v.payload_name, t_drop)
    b.mft_row(e_pay, t_drop, si_created=from_iso("2019-03-01T10:00:00Z") if v.payload_timestomp else None,
              in_use=not v.payload_self_delete)
    b.runkey(v.user, sid, "Updater", f'"{payload}" /silent')
    t_burst = t_exec + v.dwell
    t_pay_run = t_burst - 6 * SEC
    b.run(payload, t_pay_run, sid=sid, user=v.user, ua=False)
    b.run("C:\\Windows\\System32\\cmd.exe", t_pay_run + SEC, sid=sid, user=v.user, ua=False)
    b.run("C:\\Windows\\System32\\vssadmin.exe", t_pay_run + 2 * SEC, sid=sid, user=v.user, ua=False)
    # the encryption
    tc = t_burst
    notes_done: set[str] = set()
    victims = [e for e in docs if b.files[e][0].startswith(rel)]
    for k, e in enumerate(victims):
        p, n, s = b.files[e]
        if p not in notes_done:
            b.create(p, v.note, tc)
            notes_done.add(p)
            tc += 50_000
        stem = n.rsplit(".", 1)[0]
        if v.ext_style == "append":
            new = n + v.new_ext
        elif v.ext_style == "replace":
            new = stem + v.new_ext
        else:
            new = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16)) + v.new_ext
        first_t = tc
        if v.enc_style == "rename":
            b.write(e, tc)
            b.rename(e, new, tc + 20_000)
        else:
            e2 = b.create(p, new, tc)
            b.write(e2, tc + 10_000)
            b.delete(e, tc + 30_000)
        if k == 0:
            truth.first_original_path = "C:" + p + "\\" + n
            truth.first_original_name = n
            truth.first_encrypted_name = new
            truth.first_time = first_t
        tc += 120_000 + rnd.randrange(0, 200_000)
    truth.encrypted_count = len(victims)
    truth.new_extension = v.new_ext
    truth.note_name = v.note
    truth.payload_path = payload
    truth.payload_first_exec = t_pay_run
    if v.payload_self_delete:
        b.files[e_pay] = (pdir, v.payload_name, 1)
        b.delete(e_pay, tc + 5 * SEC)
    truth.download_url = chain[-1]
    truth.url_chain = chain
    truth.referrer = referrer
    truth.file_name = v.dropper_name
    truth.file_path = dl_path
    truth.downloaded = t_dl
    truth.executed = t_exec
    b.close()
    return truth
