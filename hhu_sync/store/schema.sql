-- hhu-sync database schema, version 4 (hhu_sync/store/schema_version.py; what each version
-- added: hhu_sync/store/migrations.py). SQLite dialect; kept portable to PostgreSQL.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every file seen in the outbox, by content hash: nothing is processed twice.
CREATE TABLE IF NOT EXISTS inputs (
    sha256      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,            -- scheme | meter_list | quick_send | unknown
    status      TEXT NOT NULL,            -- accepted | rejected | duplicate
    reason      TEXT NOT NULL DEFAULT '',
    moved_to    TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL
);

-- Every file whose content was already held (or came twice in one batch): set aside in
-- rejected/, not processed again; kept for the outbox page ("duplicate of NAME"). Its
-- own table: inputs holds one row a content (its key is the hash).
CREATE TABLE IF NOT EXISTS input_duplicates (
    sha256       TEXT NOT NULL,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,           -- the earlier file's kind, '' if not known
    reason       TEXT NOT NULL DEFAULT '',
    moved_to     TEXT NOT NULL DEFAULT '',
    duplicate_of TEXT NOT NULL DEFAULT '', -- the name the content was first received as
    received_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS input_duplicates_received ON input_duplicates (received_at);

-- The scheme library: valid schemes, by id; the newest version wins.
CREATE TABLE IF NOT EXISTS schemes (
    scheme_id  TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    data       TEXT NOT NULL,             -- JSON of Scheme.to_dict()
    sha256     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS hhus (
    hhu_id     TEXT PRIMARY KEY,
    crew       TEXT,
    firmware   TEXT NOT NULL DEFAULT '',
    battery    INTEGER,
    free_flash INTEGER,
    dock       TEXT NOT NULL DEFAULT '',
    last_seen  TEXT,
    -- Version 3 (every depot column: hhu_sync/store/depots.py): the depot whose daemon
    -- last saw the HHU in a cradle ('' for rows made before version 3).
    depot      TEXT NOT NULL DEFAULT ''
);

-- Meter lists and their life cycle:
-- queued -> on_hhu -> uploaded -> complete | partial ; cancelled at any point.
CREATE TABLE IF NOT EXISTS lists (
    list_id    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    hhu        TEXT,
    crew       TEXT,
    due        TEXT NOT NULL,
    state      TEXT NOT NULL,
    entries    INTEGER NOT NULL,
    data       TEXT NOT NULL,             -- JSON of MeterList.to_dict()
    delivered_to TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS list_entries (
    list_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    serial  TEXT NOT NULL,
    task    TEXT NOT NULL,
    scheme  TEXT,
    -- Added after version 1 (made and filled from lists.data on older databases at open,
    -- with its indexes list_entries_site and list_entries_serial: sqlite_upgrades).
    site    TEXT NOT NULL DEFAULT '' COLLATE NOCASE,   -- the meter's site, as the list says
    PRIMARY KEY (list_id, serial)
);

-- What is to go to a handheld. A delivery for a crew is bound to one HHU (and packed,
-- sealed with that HHU's key) when the first HHU of the crew docks.
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id  INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,           -- quick_send | meter_list
    ref          TEXT NOT NULL,           -- scheme id or list id
    target_hhu   TEXT,
    target_crew  TEXT,
    state        TEXT NOT NULL,           -- queued | delivered | cancelled | failed
    bundle_id    TEXT,
    bundle       BLOB,                    -- the sealed transfer file, bound to target_hhu
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    not_before   TEXT,                    -- back-off after a failed attempt
    created_at   TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state, target_hhu, target_crew);

CREATE TABLE IF NOT EXISTS uploads (
    upload_id   TEXT PRIMARY KEY,
    hhu_id      TEXT NOT NULL,
    received_at TEXT NOT NULL,
    visits      INTEGER NOT NULL,
    readings    INTEGER NOT NULL,
    stored      INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    cleared_at  TEXT,                     -- the HHU confirmed it deleted the upload
    depot       TEXT NOT NULL DEFAULT ''  -- version 3: the depot that received it
);

CREATE TABLE IF NOT EXISTS visits (
    upload_id   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    meter       TEXT NOT NULL,
    list_id     TEXT NOT NULL,
    time        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    scheme      TEXT,
    verify      TEXT,
    error_flags TEXT,
    operator    TEXT NOT NULL,
    notes       TEXT NOT NULL,
    -- Added after version 1 (SqliteStore._add_visit_columns adds it to older databases):
    -- the CT/VT ratios the meter held when the HHU left it, as it read them back,
    -- JSON {"ct": "400/5", "vt": "11000/110"}; NULL: no proof (docs/transfer-format.md).
    ratios      TEXT,
    PRIMARY KEY (upload_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS visits_list ON visits (list_id, meter);
-- The export's and ingest's look-ups of one meter's visits (schemes programmed, ratios
-- held, the scheme in force); created on older databases at open (IF NOT EXISTS).
CREATE INDEX IF NOT EXISTS visits_meter ON visits (meter, time);
-- The few visits that programmed a scheme, read by every export in one pass; the
-- visits that brought a ratio proof have visits_proof (made by _add_visit_columns).
CREATE INDEX IF NOT EXISTS visits_programmed ON visits (meter, time) WHERE scheme IS NOT NULL;

-- An ordinary (rowid) table: an upload's rows are appended side by side and only the
-- key's index takes the scattered inserts (a WITHOUT ROWID table, the first version's,
-- is rebuilt once at open: hhu_sync/store/sqlite_upgrades.py).
CREATE TABLE IF NOT EXISTS readings (
    meter     TEXT NOT NULL,
    obis      TEXT NOT NULL,
    time      TEXT NOT NULL,
    value     TEXT NOT NULL,
    unit      TEXT NOT NULL,
    -- hhu_sync.ingest.ReadingStatus: only 'ok' is billable. suspect | no_list |
    -- not_on_list | unknown_list | no_access | not_found | password_rejected |
    -- verify_failed | dismissed are kept and exported as such (the export adds F.F flag statuses). A reading that failed a field check is never here: it is
    -- in exceptions (kind = its FindingCode). time is UTC ISO 8601 (+00:00), obis the
    -- short form for 1-0: codes: one instant, one register, one key.
    status    TEXT NOT NULL,
    hhu       TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    -- Columns added after version 1 went out are added to older databases on open
    -- (SqliteStore._add_reading_columns), in this order.
    value_time TEXT NOT NULL DEFAULT '',  -- the value's own time (UTC): MD, billing reset
    reset_time TEXT NOT NULL DEFAULT '',  -- history (UTC): the reset closing the period
    visit_seq  INTEGER,                   -- the visit (upload_id, seq) that read it
    -- The exception whose acceptance by a clerk made it billable (exception_resolutions):
    -- the export then bills it ok without checking its list again. NULL: none.
    accepted_by INTEGER,
    PRIMARY KEY (meter, obis, time)
);
-- The docking's export of one upload (export_rows(upload_id=...)) reads its rows by this,
-- not by a scan of every reading held.
CREATE INDEX IF NOT EXISTS readings_upload ON readings (upload_id);

-- Kept, never dropped: duplicates, conflicts, meters not on the list, second readings, and
-- every field that failed a check (kind = hhu_sync.ingest.FindingCode; the field path,
-- e.g. visits[3].registers[1].value, leads detail). Text here is escaped and bounded.
CREATE TABLE IF NOT EXISTS exceptions (
    exception_id INTEGER PRIMARY KEY,
    upload_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,   -- ExceptionKind | FindingCode (hhu_sync.ingest.status)
    meter        TEXT NOT NULL,
    obis         TEXT,
    time         TEXT,
    value        TEXT,
    detail       TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

-- The exceptions' pages and the conflicts of one key look exceptions up by these.
CREATE INDEX IF NOT EXISTS exceptions_kind ON exceptions (kind, exception_id);
CREATE INDEX IF NOT EXISTS exceptions_key ON exceptions (meter, obis, time);
CREATE INDEX IF NOT EXISTS exceptions_upload ON exceptions (upload_id, exception_id);

-- A clerk's decision on an exception (hhu_sync.store.exception_rules): one per exception,
-- never changed; the audit log has it too, written in the same transaction.
CREATE TABLE IF NOT EXISTS exception_resolutions (
    exception_id INTEGER PRIMARY KEY,
    decision     TEXT NOT NULL,        -- accept | dismiss
    value        TEXT,                 -- the value accepted (a conflict's choice)
    replaced     TEXT,                 -- the value the reading held before, if it changed
    reason       TEXT NOT NULL DEFAULT '',
    user         TEXT NOT NULL,
    at           TEXT NOT NULL,
    readings     INTEGER NOT NULL DEFAULT 0   -- readings the decision changed
);

CREATE TABLE IF NOT EXISTS sessions (
    session_id INTEGER PRIMARY KEY,
    hhu_id     TEXT,
    dock       TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at   TEXT,
    outcome    TEXT NOT NULL DEFAULT 'running',
    pushed     INTEGER NOT NULL DEFAULT 0,
    pulled     INTEGER NOT NULL DEFAULT 0,
    report     TEXT NOT NULL DEFAULT '{}',
    depot      TEXT NOT NULL DEFAULT ''   -- version 3: the depot whose dock it was
);

-- Web app accounts (hhu-sync user ...): argon2 hashes only, never a password.
CREATE TABLE IF NOT EXISTS users (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,             -- hhu_sync.web.roles.Role
    pw_hash    TEXT NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Logged-in browser sessions, by the SHA-256 of the cookie's token (a copy of the
-- database does not log anyone in). Times are seconds since the epoch.
CREATE TABLE IF NOT EXISTS web_sessions (
    token_sha256 TEXT PRIMARY KEY,
    user         TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created      REAL NOT NULL,
    seen         REAL NOT NULL
);

-- Who did what and when: every state change made by a person (web or CLI).
CREATE TABLE IF NOT EXISTS audit (
    audit_id INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    user     TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    before   TEXT NOT NULL DEFAULT '',   -- JSON, '' when there was nothing
    after    TEXT NOT NULL DEFAULT '',
    depot    TEXT NOT NULL DEFAULT ''    -- version 3: the depot whose daemon, web app or
                                         -- command recorded it
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
-- The depot indexes, sessions_depot (depot, session_id) and uploads_depot (depot,
-- received_at), are made at open and by the upgrade to version 3
-- (hhu_sync/store/sqlite_upgrades.py add_depot_columns): a database of version 1 has
-- the tables without the column, so this file cannot name it in an index.

-- The web app's paged reads (hhu_sync.store.sqlite_paging): each page an index range,
-- each HHU's last activity and running session a seek. Made on older databases at open.
CREATE INDEX IF NOT EXISTS lists_due ON lists (due, list_id);
CREATE INDEX IF NOT EXISTS lists_state_due ON lists (state, due, list_id);
CREATE INDEX IF NOT EXISTS inputs_received ON inputs (received_at);      -- and rowid
CREATE INDEX IF NOT EXISTS inputs_status_received ON inputs (status, received_at);
CREATE INDEX IF NOT EXISTS uploads_hhu ON uploads (hhu_id, received_at);
CREATE INDEX IF NOT EXISTS deliveries_delivered ON deliveries (target_hhu, delivered_at);
CREATE INDEX IF NOT EXISTS sessions_hhu_started ON sessions (hhu_id, started_at);
CREATE INDEX IF NOT EXISTS sessions_hhu_ended ON sessions (hhu_id, ended_at);

-- Load profile intervals (upload version 2, hhu_sync.profile): one row per meter, channel
-- and interval end (UTC seconds since the epoch). value is the integer mantissa of
-- value * 10^exponent as the meter gave it (NULL: the meter recorded none), status the
-- hhu_sync.profile.IntervalStatus bits. A re-read of a held interval with the same
-- quantity is "already held"; with another, an exceptions row (kind interval_conflict)
-- keeps the value brought beside the one held here: both are kept, neither replaced
-- (hhu_sync.store.interval_rules). WITHOUT ROWID: a channel's intervals come in key order,
-- so an upload appends runs of rows to the tree and no second index is kept. Made on
-- older databases at open (CREATE ... IF NOT EXISTS).
CREATE TABLE IF NOT EXISTS intervals (
    meter        TEXT NOT NULL,
    channel      TEXT NOT NULL,     -- the channel's OBIS code as the meter gave it
    interval_end INTEGER NOT NULL,
    value        INTEGER,
    exponent     INTEGER NOT NULL,
    status       INTEGER NOT NULL,
    unit         TEXT NOT NULL,
    interval_s   INTEGER NOT NULL,
    upload_id    TEXT NOT NULL,     -- the upload and visit that brought it
    visit_seq    INTEGER NOT NULL,
    PRIMARY KEY (meter, channel, interval_end)
) WITHOUT ROWID;

-- A meter's event log (logbook) entries; at is UTC seconds since the epoch, kind an
-- hhu_sync.profile.EventKind value, code the dialect's raw code, data JSON
-- [[key, value], ...] as the meter sent them, source the upload that brought it first.
CREATE TABLE IF NOT EXISTS events (
    event_id  INTEGER PRIMARY KEY,
    meter     TEXT NOT NULL,
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    code      INTEGER NOT NULL,
    data      TEXT NOT NULL DEFAULT '[]',
    source    TEXT NOT NULL,
    visit_seq INTEGER NOT NULL,
    UNIQUE (meter, at, kind, code)
);

-- Validation (VEE) findings on interval data, one row per finding over the range of
-- interval ends it covers (first_end..last_end, count of them; NULL for a finding about
-- the whole read, such as a changed channel set); code an hhu_sync.profile.vee.VeeCode
-- value. Each is also an exception of kind interval_validation.
CREATE TABLE IF NOT EXISTS vee_findings (
    finding_id INTEGER PRIMARY KEY,
    upload_id  TEXT NOT NULL,
    visit_seq  INTEGER NOT NULL,
    meter      TEXT NOT NULL,
    channel    TEXT NOT NULL,
    code       TEXT NOT NULL,
    first_end  INTEGER,
    last_end   INTEGER,
    count      INTEGER NOT NULL,
    detail     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vee_findings_meter ON vee_findings (meter, first_end);

-- Who reads which meter of a remote run (hhu_sync.store.claim_rules): several daemons
-- on one store share a run meter by meter. A claim has a lease (unix seconds) its runner
-- renews while it works; a lapsed one is taken over. seq is the meter's place on the
-- list; state claimed | done | skipped; outcome the visit's once done.
CREATE TABLE IF NOT EXISTS remote_claims (
    delivery_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    serial      TEXT NOT NULL,
    port        TEXT NOT NULL,
    runner      TEXT NOT NULL,
    state       TEXT NOT NULL,
    lease_until REAL NOT NULL,
    claimed_at  TEXT NOT NULL,
    takeovers   INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    upload_id   TEXT,
    notes       TEXT NOT NULL DEFAULT '',
    finished_at TEXT,
    PRIMARY KEY (delivery_id, seq)
);
CREATE INDEX IF NOT EXISTS remote_claims_runner ON remote_claims (runner, state);
CREATE INDEX IF NOT EXISTS remote_claims_port ON remote_claims (delivery_id, port, state);
-- a port's live claims in any run (version 5): one depot at a time on a gateway
CREATE INDEX IF NOT EXISTS remote_claims_live ON remote_claims (port, state, lease_until);
