//! `wayline doctor`: checks a database file offline (with the server stopped) and repairs what
//! can be repaired, always keeping a copy of the original files first.
//!
//! The check opens the file read-only: DuckDB replays its write-ahead log in memory, so a log
//! it cannot replay is found without changing anything. The repair copies the database and its
//! log aside; when the log cannot be replayed it cuts it just before the damaged entry DuckDB
//! names, so that every commit before the damage replays (or, failing that, sets the log aside:
//! the database is then as of its last checkpoint); it removes events stored twice for one
//! `messageId`, and checkpoints.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use duckdb::{AccessMode, Config, Connection};

use crate::store::{opening_failed, sql, wal_path, StoreError, DEDUP_WINDOW, MIGRATIONS};

/// What can stop the doctor.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("no database at {0}; pass the file the server uses with --db")]
    NoDatabase(PathBuf),
    #[error(
        "could not open {path}: {source}; if the server is running, stop it first (DuckDB lets one process open \
         the file)"
    )]
    Open { path: PathBuf, source: duckdb::Error },
    #[error("could not keep a copy of {path}: {source}; nothing was changed (is there room next to the database?)")]
    Copy { path: PathBuf, source: std::io::Error },
    #[error("could not set aside the write-ahead log {path}: {source}; a copy of it is in {copy}")]
    SetAside { path: PathBuf, copy: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("DuckDB error: {0}")]
    Duckdb(#[from] duckdb::Error),
}

/// One thing the doctor looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub healthy: bool,
    pub summary: String,
    /// What to do about it, when it is a problem.
    pub fix: Option<String>,
}

impl Finding {
    fn fine(summary: impl Into<String>) -> Self {
        Finding { healthy: true, summary: summary.into(), fix: None }
    }

    fn problem(summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding { healthy: false, summary: summary.into(), fix: Some(fix.into()) }
    }
}

/// Everything one check found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checkup {
    pub findings: Vec<Finding>,
}

impl Checkup {
    pub fn healthy(&self) -> bool {
        self.findings.iter().all(|f| f.healthy)
    }
}

impl fmt::Display for Checkup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{} {}", if finding.healthy { "ok     " } else { "PROBLEM" }, finding.summary)?;
            if let Some(fix) = &finding.fix {
                writeln!(f, "        fix: {fix}")?;
            }
        }
        Ok(())
    }
}

/// What a repair did.
#[derive(Debug, Clone, PartialEq)]
pub struct Repair {
    /// The folder holding the copy of the database and its log, as they were.
    pub copy: PathBuf,
    pub actions: Vec<String>,
    /// The check run after the repair.
    pub after: Checkup,
}

fn dedup_window_us() -> i64 {
    DEDUP_WINDOW.num_microseconds().unwrap_or(i64::MAX)
}

fn size_of(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Checks the database at `db` without changing it.
pub fn check(db: &Path) -> Result<Checkup, DoctorError> {
    if !db.is_file() {
        return Err(DoctorError::NoDatabase(db.to_path_buf()));
    }
    let mut checkup = Checkup::default();
    let wal = wal_path(db);
    let wal_bytes = size_of(&wal).filter(|&n| n > 0);
    let read_only = Config::default().access_mode(AccessMode::ReadOnly)?;
    let conn = match Connection::open_with_flags(db, read_only) {
        Ok(conn) => conn,
        Err(error) => {
            return match opening_failed(db, error) {
                StoreError::WalReplay { detail, .. } => {
                    checkup.findings.push(Finding::problem(
                        format!(
                            "the write-ahead log {} ({} bytes) cannot be replayed: {detail}",
                            wal.display(),
                            wal_bytes.unwrap_or(0)
                        ),
                        format!(
                            "run `wayline doctor --db {} --repair`: it keeps a copy of both files and replays the \
                             log up to its damaged entry (what follows it is set aside)",
                            db.display()
                        ),
                    ));
                    Ok(checkup)
                }
                StoreError::Duckdb(source) => Err(DoctorError::Open { path: db.to_path_buf(), source }),
                other => Err(other.into()),
            };
        }
    };
    checkup.findings.push(Finding::fine(match wal_bytes {
        Some(bytes) => format!("the write-ahead log ({bytes} bytes not yet checkpointed) replays"),
        None => "no write-ahead log waiting to be replayed".to_string(),
    }));
    let applied: Vec<i32> = match conn.prepare(sql::APPLIED_VERSIONS) {
        Ok(mut statement) => statement.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?,
        // A file Wayline never started on has no bookkeeping yet.
        Err(_) => Vec::new(),
    };
    let known = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
    let found = applied.iter().copied().max().unwrap_or(0);
    if found > known {
        checkup.findings.push(Finding::problem(
            format!("schema {found} was written by a newer Wayline (this one knows up to {known})"),
            "upgrade Wayline; this build must not change the file",
        ));
        return Ok(checkup);
    }
    checkup.findings.push(Finding::fine(if found == known {
        format!("schema {found}, as this Wayline expects")
    } else {
        format!("schema {found} of {known}: the server applies the rest when it starts")
    }));
    // The tables below exist from migration 4 on.
    if found < 4 {
        return Ok(checkup);
    }
    let (events, dead_letters, alerts): (i64, i64, i64) =
        conn.query_row(sql::DOCTOR_COUNTS, [], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    checkup.findings.push(Finding::fine(format!(
        "holds {events} events, {dead_letters} refused messages kept with their reasons, {alerts} alerts"
    )));
    let duplicates: i64 = conn.query_row(sql::DOCTOR_DUPLICATE_EVENTS, [dedup_window_us()], |row| row.get(0))?;
    checkup.findings.push(if duplicates == 0 {
        Finding::fine("no event is stored twice for one messageId")
    } else {
        Finding::problem(
            format!("{duplicates} events repeat a messageId their source sent less than a week before"),
            format!(
                "run `wayline doctor --db {} --repair`: it keeps each message's first copy (the one acknowledged)",
                db.display()
            ),
        )
    });
    let repeated: i64 = conn.query_row(sql::DOCTOR_REPEATED_SEQS, [], |row| row.get(0))?;
    checkup.findings.push(if repeated == 0 {
        Finding::fine("every event has its own sequence number")
    } else {
        Finding::problem(
            format!("{repeated} sequence numbers are held by more than one event"),
            "this cannot be repaired by guessing; keep the file and report it with `wayline --version`",
        )
    });
    Ok(checkup)
}

/// Repairs the database at `db` as far as it can, after keeping a copy of it and its log in a
/// folder next to it named after `now`.
pub fn repair(db: &Path, now: DateTime<Utc>) -> Result<Repair, DoctorError> {
    if !db.is_file() {
        return Err(DoctorError::NoDatabase(db.to_path_buf()));
    }
    let wal = wal_path(db);
    let copy = PathBuf::from(format!("{}.doctor-{}", db.display(), now.format("%Y%m%dT%H%M%SZ")));
    let keep = |from: &Path| -> Result<(), DoctorError> {
        let name = from.file_name().unwrap_or_default();
        std::fs::copy(from, copy.join(name))
            .map(|_| ())
            .map_err(|source| DoctorError::Copy { path: from.into(), source })
    };
    std::fs::create_dir_all(&copy).map_err(|source| DoctorError::Copy { path: copy.clone(), source })?;
    keep(db)?;
    if wal.is_file() {
        keep(&wal)?;
    }
    let mut actions = vec![format!("kept a copy of the database and its write-ahead log in {}", copy.display())];

    let conn = match Connection::open(db) {
        Ok(conn) => conn,
        Err(error) => match opening_failed(db, error) {
            StoreError::WalReplay { detail, .. } => {
                let (conn, action) = open_without_the_damage(db, &wal, &copy, &detail)?;
                actions.push(action);
                conn
            }
            StoreError::Duckdb(source) => return Err(DoctorError::Open { path: db.to_path_buf(), source }),
            other => return Err(other.into()),
        },
    };
    let has_events = conn.prepare(sql::DOCTOR_COUNTS).is_ok();
    if has_events {
        let removed = conn.execute(sql::DOCTOR_DELETE_DUPLICATE_EVENTS, [dedup_window_us()])?;
        if removed > 0 {
            // A database from before migration 10 has no property rows to follow them.
            if conn.prepare(sql::DOCTOR_DELETE_ORPHAN_PROPERTIES).is_ok() {
                conn.execute(sql::DOCTOR_DELETE_ORPHAN_PROPERTIES, [])?;
            }
            actions.push(format!("removed {removed} events stored twice for one messageId, keeping each first copy"));
        }
    }
    conn.execute_batch(sql::CHECKPOINT)?;
    drop(conn);
    let after = check(db)?;
    Ok(Repair { copy, actions, after })
}

/// Where DuckDB says the damage starts: "… entry at byte position 81391 …".
fn damaged_at(detail: &str) -> Option<u64> {
    let after = detail.split("byte position ").nth(1)?;
    after.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Opens `db` after DuckDB refused its log: first with the log cut just before the damaged
/// entry (what came before it replays, as after a crash mid-write), else without the log. The
/// whole log is in `copy` either way.
fn open_without_the_damage(
    db: &Path,
    wal: &Path,
    copy: &Path,
    detail: &str,
) -> Result<(Connection, String), DoctorError> {
    let bytes = size_of(wal).unwrap_or(0);
    let set_aside = |source| DoctorError::SetAside { path: wal.to_path_buf(), copy: copy.to_path_buf(), source };
    if let Some(cut) = damaged_at(detail).filter(|&cut| cut > 0 && cut < bytes) {
        let file = std::fs::OpenOptions::new().write(true).open(wal).map_err(set_aside)?;
        file.set_len(cut).map_err(set_aside)?;
        drop(file);
        if let Ok(conn) = Connection::open(db) {
            return Ok((
                conn,
                format!(
                    "replayed the first {cut} of the write-ahead log's {bytes} bytes, up to the damaged entry \
                     ({detail}); what the log held after it is set aside in the copy"
                ),
            ));
        }
    }
    std::fs::remove_file(wal).map_err(set_aside)?;
    let conn = Connection::open(db).map_err(|source| DoctorError::Open { path: db.to_path_buf(), source })?;
    Ok((
        conn,
        format!(
            "set aside the write-ahead log ({bytes} bytes) DuckDB could not replay ({detail}); the database is as of \
             its last checkpoint, and the log stays in the copy"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::store::{CommitListener, JsonText, NewEvent, Store, WriterConfig};

    fn event(n: usize) -> NewEvent {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap() + Duration::seconds(n as i64);
        NewEvent {
            message_id: format!("m-{n}"),
            source_id: "web".into(),
            kind: "track".into(),
            name: Some("product_viewed".into()),
            anonymous_id: Some(format!("anon-{}", n % 7)),
            user_id: None,
            timestamp: at,
            original_timestamp: None,
            sent_at: None,
            received_at: at,
            properties: Some(JsonText::from_value(&serde_json::json!({"sku": format!("SKU-{n}")}))),
            traits: None,
            context: None,
        }
    }

    fn no_listener() -> CommitListener {
        Box::new(|_| {})
    }

    /// A database whose first `checkpointed` events were checkpointed and whose next `logged`
    /// are only in the write-ahead log, copied while the store had it open (as a crash leaves
    /// them), into `image`.
    async fn crash_image(dir: &Path, image: &Path, checkpointed: usize, logged: usize) {
        let db = dir.join("live.duckdb");
        let store = Store::open(&db, WriterConfig::default(), no_listener()).unwrap();
        store.write((0..checkpointed).map(event).collect(), Vec::new()).await.unwrap();
        store.close().await; // checkpoints
        let store = Store::open(&db, WriterConfig::default(), no_listener()).unwrap();
        // One commit per ten events, as a live server makes many.
        for first in (checkpointed..checkpointed + logged).step_by(10) {
            let last = (first + 10).min(checkpointed + logged);
            store.write((first..last).map(event).collect(), Vec::new()).await.unwrap();
        }
        std::fs::copy(&db, image).unwrap();
        std::fs::copy(wal_path(&db), wal_path(image)).unwrap();
        store.close().await;
    }

    fn count_events(db: &Path) -> i64 {
        let conn = Connection::open(db).unwrap();
        conn.query_row(sql::DOCTOR_COUNTS, [], |row| row.get(0)).unwrap()
    }

    #[tokio::test]
    async fn a_crash_image_with_an_intact_log_is_healthy_and_keeps_every_event() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image.duckdb");
        crash_image(dir.path(), &image, 40, 25).await;
        let checkup = check(&image).unwrap();
        assert!(checkup.healthy(), "{checkup}");
        assert!(checkup.to_string().contains("holds 65 events"), "{checkup}");
        // The check changed nothing: the log is still there to be replayed by the server.
        assert!(size_of(&wal_path(&image)).unwrap() > 0);
        assert_eq!(count_events(&image), 65);
        assert_eq!(damaged_at("Corrupt WAL file: entry at byte position 81391 computed checksum 1"), Some(81391));
        assert_eq!(damaged_at("no position here"), None);
    }

    #[tokio::test]
    async fn a_log_that_cannot_be_replayed_stops_the_server_and_the_doctor_sets_it_aside_with_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image.duckdb");
        crash_image(dir.path(), &image, 40, 400).await;
        let wal = wal_path(&image);
        let mut bytes = std::fs::read(&wal).unwrap();
        let middle = bytes.len() / 2;
        for byte in &mut bytes[middle..middle + 64] {
            *byte ^= 0xff;
        }
        std::fs::write(&wal, &bytes).unwrap();
        let original_db = std::fs::read(&image).unwrap();

        // The server refuses to start, naming the log and the way out.
        let refusal = Store::open(&image, WriterConfig::default(), no_listener()).err().expect("refused");
        assert!(matches!(refusal, StoreError::WalReplay { .. }), "{refusal}");
        let message = refusal.to_string();
        assert!(message.contains(&wal.display().to_string()), "{message}");
        assert!(message.contains(&format!("wayline doctor --db {}", image.display())), "{message}");

        let checkup = check(&image).unwrap();
        assert!(!checkup.healthy());
        assert!(checkup.to_string().contains("cannot be replayed"), "{checkup}");

        let repair = repair(&image, Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap()).unwrap();
        assert_eq!(repair.copy, dir.path().join("image.duckdb.doctor-20261202T093000Z"));
        assert_eq!(std::fs::read(repair.copy.join("image.duckdb")).unwrap(), original_db);
        assert_eq!(std::fs::read(repair.copy.join("image.duckdb.wal")).unwrap(), bytes);
        assert!(repair.after.healthy(), "{}", repair.after);
        assert!(repair.actions.iter().any(|a| a.contains("up to the damaged entry")), "{:?}", repair.actions);
        // What the log held before the damage is back, in whole commits; the rest is not.
        let kept = count_events(&image);
        assert!(kept > 40 && kept < 440, "kept {kept} of 440 events");
        assert_eq!((kept - 40) % 10, 0, "a commit is kept whole or not at all: {kept}");
        // The server starts on it.
        let store = Store::open(&image, WriterConfig::default(), no_listener()).unwrap();
        store.close().await;
    }

    #[tokio::test]
    async fn events_stored_twice_within_the_window_are_found_and_only_first_copies_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("twice.duckdb");
        Store::open(&db, WriterConfig::default(), no_listener()).unwrap().close().await;
        // Written behind the writer's back, as a faulty tool would: (seq, source, message, day, hour).
        let rows = [
            (1, "web", "m1", 1, 0), // first copy
            (2, "web", "m1", 1, 1), // repeat an hour later: counted
            (3, "app", "m1", 1, 0), // another source may use the same id
            (4, "web", "m2", 1, 0), // first copy
            (5, "web", "m2", 9, 0), // eight days later: outside the window, a new message
            (6, "web", "m1", 1, 2), // another repeat of m1: counted
        ];
        let conn = Connection::open(&db).unwrap();
        for (seq, source, message, day, hour) in rows {
            let at = Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap().naive_utc();
            conn.execute(
                "INSERT INTO events (seq, message_id, source_id, type, event, anonymous_id, timestamp, received_at) \
                 VALUES (?, ?, ?, 'track', 'e', 'a', ?, ?)",
                duckdb::params![seq, message, source, at, at],
            )
            .unwrap();
            conn.execute("INSERT INTO event_properties VALUES (?, 'plan', 'pro')", duckdb::params![seq]).unwrap();
        }
        drop(conn);
        let checkup = check(&db).unwrap();
        assert!(!checkup.healthy());
        assert!(checkup.to_string().contains("2 events repeat a messageId"), "{checkup}");

        let repair = repair(&db, Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap()).unwrap();
        assert!(repair.after.healthy(), "{}", repair.after);
        let conn = Connection::open(&db).unwrap();
        let seqs_in = |table: &str| -> Vec<i64> {
            let mut stmt = conn.prepare(&format!("SELECT seq FROM {table} ORDER BY seq")).unwrap();
            stmt.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(seqs_in("events"), vec![1, 3, 4, 5]);
        assert_eq!(seqs_in("event_properties"), vec![1, 3, 4, 5], "the repeats' property rows go with them");
    }

    #[test]
    fn a_missing_file_is_named_with_the_fix() {
        let error = check(Path::new("/nonexistent/wayline.duckdb")).unwrap_err();
        assert!(error.to_string().contains("pass the file the server uses with --db"), "{error}");
    }
}
