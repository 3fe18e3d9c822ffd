//! A full disk: the real `wayline` binary with its DuckDB file on a small tmpfs that fills
//! up. Ingestion answers `503` with `Retry-After` (not a 500, not a silent drop), keeps
//! serving, and takes the same request once space returns; afterwards every acknowledged
//! event is in the file exactly once, across a SIGKILL and a restart.
//!
//! Mounting a tmpfs needs root (CI runs as root); elsewhere the test says so and passes.

mod common;

use std::{collections::HashSet, path::Path, process::Command, time::Duration};

use serde_json::{json, Value};

use common::process::{kill, last_line_of, ready, Server};

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

fn batch(start: usize, events: usize) -> (Value, Vec<String>) {
    let ids: Vec<String> = (start..start + events).map(|n| format!("full-{n}")).collect();
    let messages: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({
                "type": "track", "messageId": id, "userId": format!("u-{}", id.len() % 50), "event": "product_viewed",
                // A kilobyte of properties, so the log fills the disk in a few dozen batches.
                "properties": { "notes": "x".repeat(1_000), "id": id },
            })
        })
        .collect();
    (json!({ "batch": messages }), ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_with_retry_after_loses_nothing_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"]).arg(&disk).output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("not run: mounting a tmpfs needs root ({mounted:?})");
        return;
    }
    let _unmount = Mounted(&disk);
    let db = disk.join("full.duckdb");
    let key = last_line_of(&db, &["source", "add", "full"]);
    let server = Server::new(dir.path(), &db);
    let client = reqwest::Client::new();
    let mut child = server.spawn();
    assert!(ready(&client, &server, &mut child, Duration::from_secs(60)).await, "{}", server.log_tail());

    // Leave the database about 3 MB, then send until the disk is full.
    let free = {
        let stat = Command::new("df").args(["--output=avail", "-B1"]).arg(&disk).output().unwrap();
        String::from_utf8_lossy(&stat.stdout).lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    let filler = disk.join("filler");
    std::fs::write(&filler, vec![0u8; (free.saturating_sub(3 << 20)) as usize]).unwrap();

    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut refused_for_space = None;
    for round in 0..200 {
        let (body, ids) = batch(round * 100, 100);
        let response =
            client.post(server.url("/v1/batch")).basic_auth(&key, Some("")).json(&body).send().await.unwrap();
        match response.status().as_u16() {
            200 => acknowledged.extend(ids),
            503 => {
                let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                let answer: Value = response.json().await.unwrap();
                refused_for_space = Some((body, ids, retry_after, answer));
                break;
            }
            other => panic!("answered {other}: {}", response.text().await.unwrap()),
        }
    }
    let (body, ids, retry_after, answer) = refused_for_space.expect("the disk filled up");
    assert!(!acknowledged.is_empty(), "some batches fit before the disk filled");
    assert_eq!(retry_after.as_deref(), Some("30"), "{answer}");
    assert_eq!(answer["error"]["code"], "disk_full", "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("nothing from this request was stored"), "{answer}");

    // Still full: still 503, and the server keeps answering everything else.
    let again = client.post(server.url("/v1/batch")).basic_auth(&key, Some("")).json(&body).send().await.unwrap();
    assert_eq!(again.status(), 503);
    assert!(client.get(server.url("/healthz")).send().await.unwrap().status().is_success());

    // Space returns: the same request is taken, and more after it.
    std::fs::remove_file(&filler).unwrap();
    let retried = client.post(server.url("/v1/batch")).basic_auth(&key, Some("")).json(&body).send().await.unwrap();
    assert_eq!(retried.status(), 200, "{}", retried.text().await.unwrap());
    acknowledged.extend(ids);
    let (more, more_ids) = batch(1_000_000, 100);
    let response = client.post(server.url("/v1/batch")).basic_auth(&key, Some("")).json(&more).send().await.unwrap();
    assert_eq!(response.status(), 200);
    acknowledged.extend(more_ids);

    // Killed and started again: the file holds every acknowledged event exactly once.
    kill(&mut child, &server);
    let mut child = server.spawn();
    assert!(ready(&client, &server, &mut child, Duration::from_secs(60)).await, "{}", server.log_tail());
    kill(&mut child, &server);
    let conn = duckdb::Connection::open(&db).unwrap();
    let stored: Vec<(String, i64)> = conn
        .prepare("SELECT message_id, count(*) FROM events GROUP BY ALL")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(stored.iter().all(|(_, copies)| *copies == 1), "an event was stored twice");
    let stored: HashSet<String> = stored.into_iter().map(|(id, _)| id).collect();
    assert_eq!(stored, acknowledged, "the file holds exactly the acknowledged events");
    println!("disk full: {} events acknowledged around a full disk, all stored once", acknowledged.len());
}
