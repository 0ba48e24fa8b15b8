-- Fixed tables of the case store. Artefact tables are created from each module's TABLES.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);

CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    artifact TEXT NOT NULL,
    path TEXT NOT NULL,          -- path inside the evidence (volume-relative) or on disk
    local_path TEXT,             -- the extracted copy that was parsed
    volume TEXT,
    user TEXT,
    size INTEGER,
    sha256 TEXT,
    parser TEXT,
    records INTEGER DEFAULT 0,
    warnings INTEGER DEFAULT 0,
    skipped INTEGER DEFAULT 0,
    seconds REAL DEFAULT 0,
    status TEXT DEFAULT 'ok'     -- ok | warnings | failed
);

CREATE TABLE IF NOT EXISTS warnings (
    id INTEGER PRIMARY KEY,
    source_id INTEGER,
    artifact TEXT,
    source TEXT,
    offset INTEGER,
    reason TEXT
);

CREATE TABLE IF NOT EXISTS timeline (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,         -- FILETIME ticks (100 ns since 1601), UTC
    -- ISO 8601 UTC with 7 fractional digits, computed by SQLite when read (exact, also before 1970)
    ts_iso TEXT GENERATED ALWAYS AS (
        strftime('%Y-%m-%dT%H:%M:%S', (ts - ts % 10000000 - 116444736000000000) / 10000000, 'unixepoch')
        || '.' || printf('%07d', ts % 10000000) || 'Z') VIRTUAL,
    ts_desc TEXT,
    artifact TEXT,
    category TEXT,
    host TEXT,
    user TEXT,
    path TEXT,
    summary TEXT,
    ref_table TEXT,
    ref_id INTEGER,
    source_id INTEGER
);

CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY,
    analyzer TEXT,
    title TEXT,
    severity TEXT,
    ts INTEGER,
    description TEXT,
    details TEXT                 -- JSON
);

CREATE TABLE IF NOT EXISTS finding_evidence (
    finding_id INTEGER,
    ref_table TEXT,
    ref_id INTEGER,
    note TEXT
);

CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY,
    ref_table TEXT,
    ref_id INTEGER,
    tag TEXT,
    note TEXT,
    created TEXT
);
