//! The event index saved beside the database (`<db>.index`), so that a restart loads it in a
//! second or two instead of reading and sorting every event again.
//!
//! Written at shutdown and every few minutes (encoded under the index's read lock, written to
//! disk without it, to a temporary file renamed into place, so a crash leaves the previous
//! one). Loaded at start only when it matches the store: the store must still hold exactly
//! the events the snapshot holds up to its sequence number (an erasure or a retention run
//! since then makes it refuse), after which the events committed since are applied as they
//! would be live. Anything else (no file, another format, a damaged file, a mismatch) falls
//! back to the full rebuild. Materialised property columns are not saved: they are read again
//! when first asked for.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{arena::Arena, CustomerEvents, Entry, IndexData};

/// The file's first bytes: the format and its version.
const MAGIC: &[u8; 8] = b"WLINDEX1";
/// The file's last bytes: a file cut short is refused.
const END: &[u8; 8] = b"WLINDEX.";

/// Why a snapshot was not used (the index is rebuilt from the store instead).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("could not read or write the index snapshot {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the index snapshot is not one this version wrote, or it is damaged ({0})")]
    Format(&'static str),
}

/// Where the snapshot of the index of the database at `db` lives.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".index");
    PathBuf::from(name)
}

/// The index as bytes (under the read lock: names, links and each customer's events).
pub(super) fn encode(data: &IndexData) -> Vec<u8> {
    let entries: usize = data.customers.iter().map(|c| c.events.len()).sum();
    let mut out = Vec::with_capacity(64 + entries * 16 + data.slot_of.len() * 32);
    out.extend_from_slice(MAGIC);
    put_i64(&mut out, data.applied_seq);
    put_u64(&mut out, data.events as u64);
    put_u64(&mut out, data.names.len() as u64);
    for (id, name) in data.names.iter().enumerate() {
        put_str(&mut out, name);
        out.push(u8::from(data.page_view_names.get(id).copied().unwrap_or(false)));
    }
    put_u64(&mut out, data.links.len() as u64);
    for (anonymous, user) in &data.links {
        put_str(&mut out, anonymous);
        put_str(&mut out, user);
    }
    // Slots emptied by an identity merge or an erasure are left out.
    let customers = data
        .customers
        .iter()
        .enumerate()
        .filter(|(slot, c)| data.slot_of.get(&c.id) == Some(&(*slot as u32)))
        .map(|(_, c)| c);
    put_u64(&mut out, data.slot_of.len() as u64);
    for customer in customers {
        put_str(&mut out, &customer.id);
        put_u64(&mut out, customer.events.len() as u64);
        for entry in customer.events.iter() {
            put_i64(&mut out, entry.at_us);
            put_u64(&mut out, entry.packed);
        }
    }
    out.extend_from_slice(END);
    out
}

/// Writes `bytes` to `path` through a temporary file, flushed to disk, renamed into place.
pub(super) fn write(bytes: &[u8], path: &Path) -> Result<(), SnapshotError> {
    let io = |source| SnapshotError::Io { path: path.to_path_buf(), source };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io)
}

/// Reads a snapshot: the index as it was saved (its `applied_seq` and `events` say up to where).
pub(super) fn read(path: &Path) -> Result<IndexData, SnapshotError> {
    let bytes = std::fs::read(path).map_err(|source| SnapshotError::Io { path: path.to_path_buf(), source })?;
    decode(&bytes)
}

fn decode(bytes: &[u8]) -> Result<IndexData, SnapshotError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(8)? != MAGIC {
        return Err(SnapshotError::Format("unknown format"));
    }
    let mut data = IndexData { applied_seq: r.i64()?, events: r.u64()? as usize, ..IndexData::default() };
    let names = r.count(9)?;
    for id in 0..names {
        let name: Arc<str> = Arc::from(r.str()?);
        data.name_ids.insert(name.clone(), id as u32);
        data.names.push(name);
        data.page_view_names.push(r.take(1)?[0] != 0);
    }
    let links = r.count(8)?;
    data.links.reserve(links);
    for _ in 0..links {
        let anonymous = Arc::from(r.str()?);
        data.links.insert(anonymous, Arc::from(r.str()?));
    }
    let customers = r.count(12)?;
    data.customers.reserve(customers);
    data.slot_of.reserve(customers);
    // The events go straight into one arena, as the file lists them (customer after
    // customer): no vector per customer to be freed between the ids (see `Arena::gather`).
    if data.events > bytes.len() / 16 {
        return Err(SnapshotError::Format("the event count does not add up"));
    }
    let mut entries = Vec::with_capacity(data.events);
    let mut stretches = Vec::with_capacity(customers);
    for slot in 0..customers {
        let id: Arc<str> = Arc::from(r.str()?);
        let n = r.count(16)?;
        let raw = r.take(n * 16)?;
        stretches.push((entries.len() as u32, n as u32));
        entries.extend(raw.chunks_exact(16).map(|e| Entry {
            at_us: i64::from_le_bytes(e[..8].try_into().unwrap_or_default()),
            packed: u64::from_le_bytes(e[8..].try_into().unwrap_or_default()),
        }));
        if data.slot_of.insert(id.clone(), slot as u32).is_some() {
            return Err(SnapshotError::Format("a customer is listed twice"));
        }
        data.customers.push(CustomerEvents::new(id, Vec::new()));
    }
    if entries.len() != data.events {
        return Err(SnapshotError::Format("the event count does not add up"));
    }
    if r.take(8)? != END || r.at != bytes.len() {
        return Err(SnapshotError::Format("the file is cut short or has bytes after its end"));
    }
    data.install(Arena::from_parts(entries, stretches));
    Ok(data)
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_u64(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Reads the encoding back, refusing to read past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or(SnapshotError::Format("the file is cut short"))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }

    /// A count of items of at least `item_bytes` each: one the rest of the file cannot hold
    /// is refused before anything is allocated for it.
    fn count(&mut self, item_bytes: usize) -> Result<usize, SnapshotError> {
        let n = self.u64()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n.saturating_mul(item_bytes as u64) > left {
            return Err(SnapshotError::Format("a count larger than the file"));
        }
        Ok(n as usize)
    }

    fn str(&mut self) -> Result<&'a str, SnapshotError> {
        let n = self.count(1)?;
        std::str::from_utf8(self.take(n)?).map_err(|_| SnapshotError::Format("a name is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Each customer's events as (time, sequence number, name), to compare two indexes.
    fn events_by_customer(data: &IndexData) -> HashMap<String, Vec<(i64, i64, String)>> {
        data.customers
            .iter()
            .filter(|c| !c.events.is_empty())
            .map(|c| {
                let events = c.events.iter().map(|e| (e.at_us, e.seq(), data.name(e.name()).to_string())).collect();
                (c.id.to_string(), events)
            })
            .collect()
    }

    fn sample() -> IndexData {
        let mut data = IndexData::default();
        let view = data.intern(Some("view"));
        let home = data.intern(Some("Home"));
        data.mark_page_view(home);
        data.insert("ann", Entry::new(10, 1, view, false));
        data.insert("anon-1", Entry::new(5, 2, home, true));
        data.insert("ann", Entry::new(20, 3, super::super::NO_NAME, false));
        data.link("anon-1", "ann");
        data.insert("bob", Entry::new(7, 4, view, true));
        data.applied_seq = 4;
        data
    }

    #[test]
    fn a_snapshot_reads_back_as_the_index_it_was() {
        let data = sample();
        let back = decode(&encode(&data)).unwrap();
        assert_eq!(events_by_customer(&back), events_by_customer(&data));
        assert_eq!((back.applied_seq, back.events, back.customers_len()), (4, 4, 2));
        assert_eq!(back.customer("anon-1").map(|c| c.id.to_string()), Some("ann".into()), "links kept");
        assert!(back.is_page_view(back.name_id("Home").unwrap()));
        assert!(!back.is_page_view(back.name_id("view").unwrap()));
        // Ann's anonymous event moved to her when linked; her slot order is time order.
        let ann: Vec<i64> = back.customer("ann").unwrap().events.iter().map(|e| e.at_us).collect();
        assert_eq!(ann, vec![5, 10, 20]);
        assert!(back.customers().iter().all(|c| c.events.own_bytes() == 0), "read into one arena");
        assert_eq!(back.arena_bytes, 4 * size_of::<Entry>());
    }

    #[test]
    fn a_damaged_or_foreign_file_is_refused_not_trusted() {
        let bytes = encode(&sample());
        assert!(matches!(decode(&bytes[..bytes.len() - 3]), Err(SnapshotError::Format(_))), "cut short");
        assert!(matches!(decode(b"WLINDEX0 and something else"), Err(SnapshotError::Format(_))), "another version");
        let mut flipped = bytes.clone();
        flipped[16] ^= 0xff; // the event count
        assert!(decode(&flipped).is_err(), "counts that do not add up");
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err(), "bytes after the end");
    }

    #[test]
    fn writing_replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("wayline.duckdb"));
        assert!(path.ends_with("wayline.duckdb.index"));
        write(b"old", &path).unwrap();
        write(&encode(&sample()), &path).unwrap();
        assert_eq!(read(&path).unwrap().events, 4);
        assert!(!dir.path().join("wayline.duckdb.index.tmp").exists());
    }
}
