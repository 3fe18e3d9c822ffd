//! What the tests that run the real `wayline` binary share: its commands, a server process
//! started on a file and address, waiting for it to answer, killing it.
#![allow(dead_code)] // Not every test file uses all of it.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Runs a `wayline` command on the database and returns the last line it printed (where
/// commands print a new secret).
pub fn last_line_of(db: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_wayline"))
        .args(args)
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the wayline binary runs");
    assert!(output.status.success(), "wayline {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().trim().to_string()
}

/// The server process, started on the same file and address each time.
pub struct Server {
    pub db: PathBuf,
    pub site_root: PathBuf,
    pub log: PathBuf,
    pub addr: String,
    /// More `serve` arguments.
    pub extra_args: Vec<String>,
}

impl Server {
    /// A server for the database `db`, on a free loopback port, logging into `dir`.
    pub fn new(dir: &Path, db: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Server {
            db: db.to_path_buf(),
            site_root: dir.to_path_buf(),
            log: dir.join("server.log"),
            addr: format!("127.0.0.1:{port}"),
            extra_args: Vec::new(),
        }
    }

    pub fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        Command::new(env!("CARGO_BIN_EXE_wayline"))
            .args(["serve", "--db"])
            .arg(&self.db)
            .args(["--addr", &self.addr, "--site-root"])
            .arg(&self.site_root)
            .args(&self.extra_args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the wayline binary runs")
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Waits up to `within` for the server to answer `/healthz`; panics if it exits by itself.
pub async fn ready(client: &reqwest::Client, server: &Server, child: &mut Child, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited by itself ({status}) while starting:\n{}", server.log_tail());
        }
        if client.get(server.url("/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// SIGKILL; panics if the server had already exited by itself.
pub fn kill(child: &mut Child, server: &Server) {
    if let Ok(Some(status)) = child.try_wait() {
        panic!("the server exited by itself ({status}) before it was killed:\n{}", server.log_tail());
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
}
