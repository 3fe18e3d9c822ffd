//! `wayline import FILE`: sends a file of Segment messages (NDJSON, optionally gzip) to a
//! running Wayline through `/v1/import`, with a progress bar and a summary of what was
//! stored, deduplicated and refused (with reasons).

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use futures::{stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{value::RawValue, Value};

/// Messages per request (well under the 2,500 limit, so one request stays small).
const BATCH_MESSAGES: usize = 500;
/// Request bodies stay under this many bytes (the limit is 500 KB).
const BATCH_BYTES: usize = 400 * 1024;
/// Requests in flight at once.
const IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub file: PathBuf,
    pub target: String,
    pub write_key: String,
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("could not read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("could not reach Wayline at {target}: {source}; is it running? (wayline serve)")]
    Unreachable { target: String, source: reqwest::Error },
    #[error("Wayline refused the import: {status} {body}")]
    Refused { status: u16, body: String },
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImportSummary {
    pub lines: u64,
    pub stored: u64,
    pub duplicates: u64,
    /// Refused messages per reason code, with one example message each.
    pub refused: BTreeMap<String, (u64, String)>,
    /// Lines that are not JSON, by line number (they are not sent).
    pub unreadable_lines: Vec<u64>,
    pub seconds: f64,
}

impl ImportSummary {
    pub fn refused_total(&self) -> u64 {
        self.refused.values().map(|(n, _)| n).sum::<u64>() + self.unreadable_lines.len() as u64
    }

    /// Events per second, over everything read.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.lines as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "read       {} lines in {:.1} s ({:.0} events/s)", self.lines, self.seconds, self.rate())?;
        writeln!(f, "stored     {}", self.stored)?;
        writeln!(f, "duplicates {} (already stored, skipped)", self.duplicates)?;
        writeln!(f, "refused    {}", self.refused_total())?;
        for (code, (count, example)) in &self.refused {
            writeln!(f, "  {count:>8} × {code}: {example}")?;
        }
        if !self.unreadable_lines.is_empty() {
            let shown: Vec<String> = self.unreadable_lines.iter().take(10).map(u64::to_string).collect();
            writeln!(f, "  {:>8} × not JSON, lines {}", self.unreadable_lines.len(), shown.join(", "))?;
        }
        Ok(())
    }
}

/// Opens a file, transparently decompressing gzip (recognised by its magic bytes).
fn open(path: &Path) -> Result<(Box<dyn BufRead>, u64), ImportError> {
    let read_error = |source| ImportError::Read { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(read_error)?;
    let file = File::open(path).map_err(read_error)?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok((Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file))), size))
    } else {
        Ok((Box::new(BufReader::new(file)), size))
    }
}

/// Splits the file into request bodies, remembering lines that are not JSON.
fn batches(reader: impl BufRead, summary: &mut ImportSummary) -> Result<Vec<(String, usize)>, std::io::Error> {
    let mut bodies = Vec::new();
    let mut current: Vec<Box<RawValue>> = Vec::new();
    let mut current_bytes = 0;
    let flush = |current: &mut Vec<Box<RawValue>>, bodies: &mut Vec<(String, usize)>| {
        if !current.is_empty() {
            let body = format!("{{\"batch\":[{}]}}", current.iter().map(|r| r.get()).collect::<Vec<_>>().join(","));
            bodies.push((body, current.len()));
            current.clear();
        }
    };
    for line in reader.lines() {
        let line = line?;
        summary.lines += 1;
        if line.trim().is_empty() {
            summary.lines -= 1;
            continue;
        }
        match serde_json::from_str::<Box<RawValue>>(&line) {
            Ok(raw) => {
                if current.len() >= BATCH_MESSAGES || current_bytes + raw.get().len() > BATCH_BYTES {
                    flush(&mut current, &mut bodies);
                    current_bytes = 0;
                }
                current_bytes += raw.get().len() + 1;
                current.push(raw);
            }
            Err(_) => summary.unreadable_lines.push(summary.lines),
        }
    }
    flush(&mut current, &mut bodies);
    Ok(bodies)
}

/// Runs the import and returns its summary.
pub async fn run(config: ImportConfig) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let (reader, _size) = open(&config.file)?;
    let mut summary = ImportSummary::default();
    let bodies =
        batches(reader, &mut summary).map_err(|source| ImportError::Read { path: config.file.clone(), source })?;
    let total: usize = bodies.iter().map(|(_, n)| n).sum();
    let bar = if config.progress {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} events  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|source| ImportError::Unreachable { target: config.target.clone(), source })?;
    let url = format!("{}/v1/import", config.target.trim_end_matches('/'));
    let mut answers = stream::iter(bodies)
        .map(|(body, count)| {
            let request = client.post(&url).basic_auth(&config.write_key, Some("")).body(body);
            async move { (send_with_retry(request).await, count) }
        })
        .buffered(IN_FLIGHT);
    while let Some((answer, count)) = answers.next().await {
        let answer = answer.map_err(|source| ImportError::Unreachable { target: config.target.clone(), source })?;
        let (status, body) = answer;
        if status == 401 || status == 413 || (status >= 400 && body.get("rejected").is_none()) {
            return Err(ImportError::Refused { status, body: body.to_string() });
        }
        summary.stored += body["stored"].as_u64().unwrap_or(0);
        summary.duplicates += body["duplicates"].as_u64().unwrap_or(0);
        for rejected in body["rejected"].as_array().into_iter().flatten() {
            let code = rejected["code"].as_str().unwrap_or("unknown").to_string();
            let message = rejected["message"].as_str().unwrap_or_default().to_string();
            let entry = summary.refused.entry(code).or_insert((0, message));
            entry.0 += 1;
        }
        bar.inc(count as u64);
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Sends a request, waiting and retrying while Wayline answers 503 (its queue is full).
async fn send_with_retry(request: reqwest::RequestBuilder) -> Result<(u16, Value), reqwest::Error> {
    let mut wait = Duration::from_millis(100);
    loop {
        // String bodies can always be cloned, so every attempt sends the same request.
        let Some(attempt) = request.try_clone() else { return request.send().await.map(|_| (0, Value::Null)) };
        let response = attempt.send().await?;
        let status = response.status().as_u16();
        if status == 503 {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
            continue;
        }
        let body = response.json().await.unwrap_or(Value::Null);
        return Ok((status, body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn lines_are_batched_and_unreadable_ones_remembered() {
        let text = "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"a\"}\n\nnot json\n{\"type\":\"identify\",\"userId\":\"u\"}\n";
        let mut summary = ImportSummary::default();
        let bodies = batches(text.as_bytes(), &mut summary).unwrap();
        assert_eq!(summary.lines, 3);
        assert_eq!(summary.unreadable_lines, vec![2]);
        assert_eq!(bodies.len(), 1);
        assert_eq!(bodies[0].1, 2);
        let parsed: Value = serde_json::from_str(&bodies[0].0).unwrap();
        assert_eq!(parsed["batch"][1]["type"], "identify");
    }

    #[test]
    fn large_files_are_split_into_bounded_batches() {
        let line = format!("{{\"type\":\"track\",\"userId\":\"u\",\"event\":\"{}\"}}\n", "x".repeat(2_000));
        let text = line.repeat(1_200);
        let mut summary = ImportSummary::default();
        let bodies = batches(text.as_bytes(), &mut summary).unwrap();
        assert!(bodies.iter().all(|(body, n)| body.len() <= BATCH_BYTES + 64 && *n <= BATCH_MESSAGES));
        assert_eq!(bodies.iter().map(|(_, n)| n).sum::<usize>(), 1_200);
    }

    #[test]
    fn gzip_files_are_recognised_by_their_magic_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ndjson");
        let mut encoder = flate2::write::GzEncoder::new(File::create(&path).unwrap(), flate2::Compression::default());
        encoder.write_all(b"{\"type\":\"track\",\"userId\":\"u\",\"event\":\"a\"}\n").unwrap();
        encoder.finish().unwrap();
        let (reader, _) = open(&path).unwrap();
        let mut summary = ImportSummary::default();
        let bodies = batches(reader, &mut summary).unwrap();
        assert_eq!((summary.lines, bodies.len()), (1, 1));
    }
}
