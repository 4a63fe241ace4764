-- Portable SQL (SQLite today, PostgreSQL later): TEXT, INTEGER, REAL only;
-- timestamps are fixed-width RFC 3339 UTC text, so they sort as strings.

CREATE TABLE clips (
    id            TEXT PRIMARY KEY,
    pipeline      TEXT NOT NULL,
    path          TEXT NOT NULL UNIQUE,
    title         TEXT,
    tags          TEXT NOT NULL DEFAULT '[]',
    favorite      INTEGER NOT NULL DEFAULT 0,
    trigger_kind  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    duration_s    REAL NOT NULL,
    size_bytes    INTEGER NOT NULL,
    video_codec   TEXT NOT NULL,
    audio_codec   TEXT,
    width         INTEGER,
    height        INTEGER,
    fps           REAL,
    score         REAL,
    -- The daemon run whose ring timeline span_* and markers refer to.
    session       TEXT NOT NULL,
    span_start_ns INTEGER NOT NULL,
    span_end_ns   INTEGER NOT NULL,
    save_ms       REAL NOT NULL
);
CREATE INDEX clips_by_created ON clips (created_at, id);
CREATE INDEX clips_by_pipeline ON clips (pipeline, created_at);

CREATE TABLE markers (
    id         TEXT PRIMARY KEY,
    pipeline   TEXT NOT NULL,
    session    TEXT NOT NULL,
    ring_id    INTEGER NOT NULL,
    at_ns      INTEGER NOT NULL,
    label      TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX markers_by_time ON markers (pipeline, session, at_ns);

CREATE TABLE pipelines (
    id         TEXT PRIMARY KEY,
    graph      TEXT NOT NULL,
    autostart  INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
