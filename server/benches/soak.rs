//! Soak: the `wayline` binary under the demo's journeys for a long while, with SSE clients on
//! every stream and twenty rules on, sampled every 10 seconds. Not part of the test command.
//!
//!   scripts/soak.sh                                    # 30 minutes at 10,000 events/s
//!   cargo bench -p server --bench soak -- --minutes 5 --rate 2000 --clients 20 --population 10000
//!
//! The demo's customers are bounded (`--population`, a minute of the rate by default): once they have all
//! arrived, the index holds the live customers, and memory other than the events' own and
//! DuckDB's buffer pool should stop growing.
//!
//! Every 10 s it records the server's resident memory and its event index's size, the events
//! stored, the write queue, the index's and the engine's lag, commit latency (probe batches of
//! 100 events sent beside the demo's traffic: the answer comes after the commit) and event →
//! SSE latency (from the server's receipt to a client, measured by five event-stream clients).
//! At the end: the memory slope after warm-up, with the parts that grow by design taken apart
//! from the rest (the event index keeps every event; the writer remembers seven days of
//! message ids; DuckDB's buffer pool fills up to its limit; the rule engine and the alert
//! store remember the alerts raised in the last two days, at most a million anchors each), latency percentiles per window
//! and overall, and the number of error lines in the server's log. Writes `soak.csv`, `soak.svg`
//! (memory and latency over time, drawn with plotters) and `soak.json` into target/bench.

mod common;

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use plotters::prelude::*;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use common::{connect_many, percentile, rules, start_server_with, status};

struct Args {
    minutes: f64,
    rate: f64,
    clients: usize,
    /// The demo's customers ([`wayline demo --population`]): once all have arrived, the index
    /// holds the live customers and memory other than the events' should stop growing. By
    /// default a minute of the rate in customers: fewer could not keep up the rate, since a
    /// customer mid-visit or away until their return cannot arrive again (40,000 held a
    /// 10,000 events/s demo to about 2,000 once they had all arrived).
    population: Option<u64>,
    out: PathBuf,
}

fn args() -> Args {
    let mut args = Args {
        minutes: 30.0,
        rate: 10_000.0,
        clients: 100,
        population: None,
        out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench")),
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().unwrap_or_default();
        match arg.as_str() {
            "--minutes" => args.minutes = value().parse().expect("--minutes takes a number"),
            "--rate" => args.rate = value().parse().expect("--rate takes events per second"),
            "--clients" => args.clients = value().parse().expect("--clients takes a number per stream"),
            "--population" => {
                args.population = Some(value().parse().expect("--population takes a number of customers"))
            }
            "--out" => args.out = PathBuf::from(value()),
            _ => {} // cargo bench passes --bench
        }
    }
    args.population.get_or_insert((args.rate * 60.0).max(40_000.0) as u64);
    args
}

/// Event → SSE: from the server's receipt (`received_at`) to the client.
fn received_times(frame: &Value) -> Vec<DateTime<Utc>> {
    if frame["kind"] != "events" {
        return Vec::new();
    }
    frame["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["received_at"].as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

fn nothing(_: &Value) -> Vec<DateTime<Utc>> {
    Vec::new()
}

struct Sample {
    seconds: f64,
    rss_mib: f64,
    index_mib: f64,
    duckdb_mib: f64,
    /// The writer's memory of message ids (seven days of them), to refuse a resent message.
    dedup_mib: f64,
    /// The C heap in use (the index, the dedup memory and the engine's live there, and
    /// DuckDB's structures outside its pool); RSS beyond it and DuckDB's pool is memory freed
    /// but held by the allocator (handed back once a minute), stacks and code.
    heap_mib: f64,
    stored: i64,
    events_per_second: f64,
    queue: i64,
    /// Waits the rules hold (an absence rule's hour, an inactivity rule's day): live state
    /// that grows until the longest wait starts firing.
    pending_timers: i64,
    customers: i64,
    /// Alerts raised since start: the rule engine and the alert store remember each raised
    /// anchor for two days (at most a million), so this memory grows with them up to that bound.
    alerts: i64,
    /// Raised anchors the alert store remembers (two days of them, at most a million).
    anchors: i64,
    /// What the rule engine and the alert store hold by design: pending waits, cooldowns and
    /// two days of anchors alerted, at most a million each (an alert raised is remembered, to
    /// raise it once).
    alerting_mib: f64,
    index_lag: i64,
    engine_lag: i64,
    commit_p50_ms: f64,
    commit_p99_ms: f64,
    sse_p50_ms: f64,
    sse_p99_ms: f64,
}

/// Least-squares slope of `y` over `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let covariance: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    covariance / variance
}

fn drain(receiver: &mut mpsc::UnboundedReceiver<f64>, into: &mut Vec<f64>) -> Vec<f64> {
    let mut window = Vec::new();
    while let Ok(value) = receiver.try_recv() {
        window.push(value);
    }
    window.sort_by(f64::total_cmp);
    into.extend(&window);
    window
}

fn chart(samples: &[Sample], path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (960, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(320);
    let end = samples.last().map_or(1.0, |s| s.seconds / 60.0).max(1.0);
    let memory_top = samples.iter().map(|s| s.rss_mib).fold(1.0, f64::max) * 1.1;
    let mut memory = ChartBuilder::on(&top)
        .caption("Resident memory, event index and DuckDB (MiB)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..memory_top)?;
    memory.configure_mesh().x_desc("minutes").draw()?;
    memory
        .draw_series(LineSeries::new(samples.iter().map(|s| (s.seconds / 60.0, s.rss_mib)), &BLUE))?
        .label("resident memory")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    memory
        .draw_series(LineSeries::new(samples.iter().map(|s| (s.seconds / 60.0, s.index_mib)), &GREEN))?
        .label("event index")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
    memory
        .draw_series(LineSeries::new(samples.iter().map(|s| (s.seconds / 60.0, s.duckdb_mib)), &RGBColor(230, 140, 0)))?
        .label("DuckDB buffer pool")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(230, 140, 0)));
    memory
        .draw_series(LineSeries::new(samples.iter().map(|s| (s.seconds / 60.0, s.dedup_mib)), &MAGENTA))?
        .label("message ids remembered")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MAGENTA));
    memory
        .draw_series(LineSeries::new(samples.iter().map(|s| (s.seconds / 60.0, s.alerting_mib)), &CYAN))?
        .label("rule engine and alert anchors")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], CYAN));
    memory.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    let latency_top =
        samples.iter().flat_map(|s| [s.sse_p99_ms, s.commit_p99_ms]).filter(|v| v.is_finite()).fold(1.0, f64::max)
            * 1.1;
    let mut latency = ChartBuilder::on(&bottom)
        .caption("Latency per 10 s window, p99 (ms)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..latency_top)?;
    latency.configure_mesh().x_desc("minutes").draw()?;
    let finite = |v: f64| v.is_finite().then_some(v);
    latency
        .draw_series(LineSeries::new(
            samples.iter().filter_map(|s| Some((s.seconds / 60.0, finite(s.sse_p99_ms)?))),
            &RED,
        ))?
        .label("event → SSE p99")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    latency
        .draw_series(LineSeries::new(
            samples.iter().filter_map(|s| Some((s.seconds / 60.0, finite(s.commit_p99_ms)?))),
            &MAGENTA,
        ))?
        .label("commit (probe batch ack) p99")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MAGENTA));
    latency.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    root.present()?;
    Ok(())
}

#[tokio::main]
async fn main() {
    let args = args();
    let population = args.population.expect("set by args()");
    std::fs::create_dir_all(&args.out).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server = start_server_with(dir.path(), &["--demo"], Some(&log), 3 * args.clients).await;
    let addr = server.addr.clone();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {}", server.token).parse().unwrap());
    let http = reqwest::Client::builder().default_headers(headers).build().unwrap();
    for rule in rules() {
        let id = rule["id"].as_str().unwrap().to_string();
        let response = http.put(format!("http://{addr}/api/v1/rules/{id}")).json(&rule).send().await.unwrap();
        assert!(response.status().is_success(), "rule {id}: {}", response.text().await.unwrap());
    }

    let (sse_tx, mut sse_rx) = mpsc::unbounded_channel::<f64>();
    let mut listeners = Vec::new();
    for (path, probes, extract) in [
        ("/api/v1/stream/events", 5, received_times as common::Extract),
        ("/api/v1/stream/stages", 0, nothing as common::Extract),
        ("/api/v1/stream/alerts", 0, nothing as common::Extract),
    ] {
        listeners
            .extend(connect_many(&addr, &server.stream_tokens, path, args.clients, probes, &sse_tx, extract).await);
    }
    println!(
        "soak: {} clients on each of 3 streams, {} rules, demo at {} events/s for {} min",
        args.clients,
        rules().len(),
        args.rate,
        args.minutes
    );

    let mut demo = Command::new(env!("CARGO_BIN_EXE_wayline"))
        .args(["demo", "--target", &format!("http://{addr}"), "--rate", &args.rate.to_string(), "--seed", "17"])
        .args(["--population", &population.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the demo runs");

    // Commit latency: a batch of 100 events every second, beside the demo's traffic.
    let (commit_tx, mut commit_rx) = mpsc::unbounded_channel::<f64>();
    let prober = tokio::spawn({
        let (addr, key) = (addr.clone(), server.write_key.clone());
        async move {
            let client = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            for round in 0u64.. {
                tick.tick().await;
                let batch: Vec<Value> = (0..100)
                    .map(|n| {
                        json!({"type": "track", "messageId": format!("probe-{round}-{n}"),
                                    "userId": format!("probe-{}", n % 10), "event": "probe_sent"})
                    })
                    .collect();
                let started = Instant::now();
                let sent = client
                    .post(format!("http://{addr}/v1/batch"))
                    .basic_auth(&key, Some(""))
                    .json(&json!({ "batch": batch }))
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status().is_success()) {
                    let _ = commit_tx.send(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
    });

    let csv_path = args.out.join("soak.csv");
    let mut csv = std::io::BufWriter::new(std::fs::File::create(&csv_path).unwrap());
    writeln!(csv, "seconds,rss_mib,index_mib,duckdb_mib,dedup_mib,events_stored,events_per_second,write_queue,pending_timers,tracked_customers,alerts_raised,remembered_alert_anchors,alerting_mib,heap_in_use_mib,index_lag,engine_lag,commit_p50_ms,commit_p99_ms,event_to_sse_p50_ms,event_to_sse_p99_ms").unwrap();
    let started = Instant::now();
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    let (mut all_commit, mut all_sse, mut samples) = (Vec::new(), Vec::new(), Vec::<Sample>::new());
    let mut last_stored = status(&http, &addr).await["committed_seq"].as_i64().unwrap_or(0);
    while started.elapsed() < total {
        tick.tick().await;
        let live = status(&http, &addr).await;
        let stored = live["committed_seq"].as_i64().unwrap_or(0);
        let commit = drain(&mut commit_rx, &mut all_commit);
        let sse = drain(&mut sse_rx, &mut all_sse);
        let sample = Sample {
            seconds: started.elapsed().as_secs_f64(),
            rss_mib: server.rss_kib() / 1024.0,
            // The index with its materialised columns (the channel's grows 4 bytes an event).
            index_mib: (live["index_bytes"].as_f64().unwrap_or(0.0)
                + live["property_column_bytes"].as_f64().unwrap_or(0.0))
                / 1_048_576.0,
            duckdb_mib: live["duckdb_memory_bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0,
            dedup_mib: live["dedup_bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0,
            heap_mib: live["heap_in_use_bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0,
            stored,
            events_per_second: (stored - last_stored) as f64 / 10.0,
            queue: live["write_queue_depth"].as_i64().unwrap_or(0),
            pending_timers: live["pending_timers"].as_i64().unwrap_or(0),
            customers: live["tracked_customers"].as_i64().unwrap_or(0),
            alerts: live["alerts_raised"].as_i64().unwrap_or(0),
            anchors: live["remembered_alert_anchors"].as_i64().unwrap_or(0),
            alerting_mib: (live["alert_anchor_bytes"].as_f64().unwrap_or(0.0)
                + live["engine_memory_bytes"].as_f64().unwrap_or(0.0))
                / 1_048_576.0,
            index_lag: live["committed_seq"].as_i64().unwrap_or(0) - live["indexed_seq"].as_i64().unwrap_or(0),
            engine_lag: live["engine_lag_events"].as_i64().unwrap_or(0),
            commit_p50_ms: percentile(&commit, 0.5),
            commit_p99_ms: percentile(&commit, 0.99),
            sse_p50_ms: percentile(&sse, 0.5),
            sse_p99_ms: percentile(&sse, 0.99),
        };
        last_stored = stored;
        writeln!(
            csv,
            "{:.0},{:.1},{:.1},{:.1},{:.1},{},{:.0},{},{},{},{},{},{:.1},{:.1},{},{},{:.1},{:.1},{:.1},{:.1}",
            sample.seconds,
            sample.rss_mib,
            sample.index_mib,
            sample.duckdb_mib,
            sample.dedup_mib,
            sample.stored,
            sample.events_per_second,
            sample.queue,
            sample.pending_timers,
            sample.customers,
            sample.alerts,
            sample.anchors,
            sample.alerting_mib,
            sample.heap_mib,
            sample.index_lag,
            sample.engine_lag,
            sample.commit_p50_ms,
            sample.commit_p99_ms,
            sample.sse_p50_ms,
            sample.sse_p99_ms
        )
        .unwrap();
        csv.flush().unwrap();
        println!(
            "{:>5.0} s  RSS {:>7.1} MiB  index {:>6.1}  DuckDB {:>7.1} MiB  {:>9} events ({:>6.0}/s)  queue {:>3}  lag {:>5}/{:<5}  commit p99 {:>6.1} ms  event → SSE p50 {:>6.1} p99 {:>6.1} ms",
            sample.seconds, sample.rss_mib, sample.index_mib, sample.duckdb_mib, sample.stored, sample.events_per_second, sample.queue,
            sample.index_lag, sample.engine_lag, sample.commit_p99_ms, sample.sse_p50_ms, sample.sse_p99_ms
        );
        samples.push(sample);
        if let Ok(Some(exit)) = demo.try_wait() {
            panic!("the demo sender stopped ({exit})");
        }
    }
    let _ = demo.kill();
    let _ = demo.wait();
    prober.abort();
    for listener in listeners {
        listener.abort();
    }

    // Warm-up, while caches and buffers fill: the first fifth of the run, and at least six
    // minutes (the rules' five-minute waits reach their steady number by then) or half of a
    // shorter run; and until the demo's population has arrived (the built-in demo's few
    // visitors a second come on top of it).
    let population_complete_at =
        samples.iter().find(|s| s.customers as f64 >= 0.98 * population as f64).map(|s| s.seconds);
    let warm = (args.minutes * 60.0 / 5.0)
        .max(360.0_f64.min(args.minutes * 30.0))
        .max(population_complete_at.unwrap_or(0.0))
        .min(args.minutes * 45.0);
    let after: Vec<&Sample> = samples.iter().filter(|s| s.seconds >= warm).collect();
    let per_hour = |f: fn(&Sample) -> f64| slope(&after.iter().map(|s| (s.seconds / 3600.0, f(s))).collect::<Vec<_>>());
    let rss_slope = per_hour(|s| s.rss_mib);
    let index_slope = per_hour(|s| s.index_mib);
    let duckdb_slope = per_hour(|s| s.duckdb_mib);
    let dedup_slope = per_hour(|s| s.dedup_mib);
    let alerting_slope = per_hour(|s| s.alerting_mib);
    let rest_slope = per_hour(|s| s.rss_mib - s.index_mib - s.duckdb_mib - s.dedup_mib - s.alerting_mib);
    all_commit.sort_by(f64::total_cmp);
    all_sse.sort_by(f64::total_cmp);
    let errors = std::fs::read_to_string(&log).unwrap_or_default().lines().filter(|l| l.contains("ERROR")).count();
    let stored = samples.last().map_or(0, |s| s.stored);
    let seconds = samples.last().map_or(1.0, |s| s.seconds);
    let report = json!({
        "benchmark": "soak",
        "minutes": args.minutes,
        "target_events_per_second": args.rate,
        "events_per_second_measured": stored as f64 / seconds,
        "events_stored": stored,
        "clients_per_stream": args.clients,
        "demo_population": population,
        "population_complete_at_seconds": population_complete_at,
        "warm_up_seconds": warm,
        "rules": rules().len(),
        "rss_mib_start": samples.first().map(|s| s.rss_mib),
        "rss_mib_end": samples.last().map(|s| s.rss_mib),
        "rss_slope_mib_per_hour_after_warmup": rss_slope,
        "index_slope_mib_per_hour_after_warmup": index_slope,
        "duckdb_slope_mib_per_hour_after_warmup": duckdb_slope,
        "dedup_slope_mib_per_hour_after_warmup": dedup_slope,
        "alerting_slope_mib_per_hour_after_warmup": alerting_slope,
        "rest_slope_mib_per_hour_after_warmup": rest_slope,
        // The rest split: what else the C heap holds, and what it holds freed (or is not heap).
        "other_heap_in_use_slope_mib_per_hour_after_warmup":
            per_hour(|s| s.heap_mib - s.index_mib - s.dedup_mib - s.alerting_mib),
        "outside_heap_and_pool_slope_mib_per_hour_after_warmup": per_hour(|s| s.rss_mib - s.duckdb_mib - s.heap_mib),
        "heap_in_use_mib_end": samples.last().map(|s| s.heap_mib),
        "alerting_mib_end": samples.last().map(|s| s.alerting_mib),
        "duckdb_mib_end": samples.last().map(|s| s.duckdb_mib),
        "index_mib_end": samples.last().map(|s| s.index_mib),
        "dedup_mib_end": samples.last().map(|s| s.dedup_mib),
        "commit_ms_p50": percentile(&all_commit, 0.5),
        "commit_ms_p99": percentile(&all_commit, 0.99),
        "event_to_sse_ms_p50": percentile(&all_sse, 0.5),
        "event_to_sse_ms_p99": percentile(&all_sse, 0.99),
        "event_to_sse_ms_p99_worst_window": samples.iter().map(|s| s.sse_p99_ms).filter(|v| v.is_finite()).fold(0.0, f64::max),
        "write_queue_max": samples.iter().map(|s| s.queue).max(),
        "pending_timers_after_warmup": after.first().map(|s| s.pending_timers),
        "pending_timers_end": samples.last().map(|s| s.pending_timers),
        "tracked_customers_end": samples.last().map(|s| s.customers),
        "alerts_raised_end": samples.last().map(|s| s.alerts),
        "remembered_alert_anchors_end": samples.last().map(|s| s.anchors),
        "remembered_alert_anchors_slope_per_hour_after_warmup": per_hour(|s| s.anchors as f64),
        "engine_lag_max": samples.iter().map(|s| s.engine_lag).max(),
        "error_lines_in_log": errors,
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    std::fs::write(args.out.join("soak.json"), serde_json::to_string_pretty(&report).unwrap()).unwrap();
    chart(&samples, &args.out.join("soak.svg")).expect("the chart is drawn");
    println!("wrote soak.csv, soak.svg and soak.json into {}", args.out.display());
    let kept_log = args.out.join("soak-server.log");
    let _ = std::fs::copy(&log, &kept_log);
    if errors > 0 {
        eprintln!("the server logged {errors} error lines; see them with: grep ERROR {}", kept_log.display());
        std::process::exit(1);
    }
}
