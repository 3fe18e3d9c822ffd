//! Analytics benchmark: a deterministic shop history written to a DuckDB file, then the
//! questions the pages ask, timed. Prints the figures and writes them as JSON.
//!
//!   cargo bench -p server --bench analytics -- --quick          # 1M events, 100k customers
//!   cargo bench -p server --bench analytics                     # 10M events, 1M customers
//!   cargo bench -p server --bench analytics -- --events 100M    # any size, 10 events a customer
//!   ... -- --out path.json
//!   ... -- --duckdb-memory-mib 1024                           # DuckDB's memory limit (default 2048)

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use app::types::{OrderMode, TrendPeriod};
use chrono::{TimeZone, Utc};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::json;
use server::{
    analytics::{
        question::{FunnelQuery, PathQuery},
        Active, Analytics,
    },
    index::EventIndex,
    store::{JsonText, NewEvent, Store, WriterConfig},
};

const FUNNEL: [&str; 5] =
    ["product_viewed", "added_to_cart", "checkout_started", "payment_info_entered", "purchase_completed"];
const CHANNELS: [&str; 4] = ["email", "cpc", "social", "direct"];
const NOISE: [&str; 6] =
    ["Home", "Category", "products_searched", "product_list_viewed", "logged_in", "support_ticket_created"];

/// The benchmark's options.
struct Args {
    /// `--quick`: 1M events.
    quick: bool,
    /// `--events N` (`10M`, `100M`, or a plain number; 10M by default).
    events: usize,
    /// `--out path.json`.
    out: PathBuf,
    /// `--db path`: keep the history in this file and, when it exists, ask it again instead
    /// of writing a new one (for profiling one question after another).
    keep: Option<PathBuf>,
    /// `--funnels-only`: stop after the funnel and its breakdown, writing no report (for a
    /// profiler).
    funnels_only: bool,
    /// `--duckdb-memory-mib N`: DuckDB's memory limit, as `wayline serve --duckdb-memory-mib`
    /// (the server's default unless given): a big history is served with a smaller pool.
    duckdb_memory_mib: u32,
}

fn args() -> Args {
    let mut args = Args {
        quick: false,
        events: 10_000_000,
        out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/analytics.json")),
        keep: None,
        funnels_only: false,
        duckdb_memory_mib: server::config::DEFAULT_DUCKDB_MEMORY_MIB,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => {
                args.quick = true;
                args.events = 1_000_000;
            }
            "--events" => {
                let text = iter.next().unwrap_or_default().to_uppercase();
                let (digits, scale) = match text.strip_suffix('M') {
                    Some(millions) => (millions.to_string(), 1_000_000),
                    None => (text.clone(), 1),
                };
                args.events = digits.parse::<usize>().map(|n| n * scale).unwrap_or_else(|_| {
                    panic!("--events takes a number of events, like 1000000, 10M or 100M (got {text:?})")
                });
            }
            "--out" => args.out = iter.next().map(PathBuf::from).unwrap_or(args.out),
            "--db" => args.keep = iter.next().map(PathBuf::from),
            "--funnels-only" => args.funnels_only = true,
            "--duckdb-memory-mib" => {
                let text = iter.next().unwrap_or_default();
                args.duckdb_memory_mib = text
                    .parse()
                    .unwrap_or_else(|_| panic!("--duckdb-memory-mib takes a number of MiB, like 1024 (got {text:?})"));
            }
            _ => {}
        }
    }
    args
}

/// What a serving server holds, by part (MiB), as its status endpoint reports it.
struct ServingMemory {
    index_mib: f64,
    duckdb_mib: f64,
    message_ids_mib: f64,
    heap_mib: f64,
}

impl ServingMemory {
    async fn of(wayline: &server::Wayline) -> Self {
        let state = &wayline.state;
        let mib = |bytes: usize| bytes as f64 / 1_048_576.0;
        ServingMemory {
            index_mib: mib(state.index.answer(|data| data.approximate_bytes()).await.unwrap_or(0)),
            duckdb_mib: state.store.duckdb_memory_bytes().await.map(|b| b as f64 / 1_048_576.0).unwrap_or(0.0),
            message_ids_mib: mib(state.store.remembered_message_ids().1),
            heap_mib: mib(server::memory::heap_in_use_bytes().unwrap_or(0)),
        }
    }

    /// The parts, and what is left: the C heap beyond the index and the message ids, and what
    /// is resident outside the heap and DuckDB's pool (code, stacks, DuckDB's own allocator).
    fn print(&self, rss_mib: f64, limit_mib: u32) {
        println!(
            "              index {:.0}, DuckDB's pool {:.0} (limit {limit_mib}), message ids {:.0}, other heap {:.0}, outside heap and pool {:.0} MiB",
            self.index_mib,
            self.duckdb_mib,
            self.message_ids_mib,
            self.heap_mib - self.index_mib - self.message_ids_mib,
            rss_mib - self.heap_mib - self.duckdb_mib,
        );
    }
}

/// One generated event before it is written: when, whose, which name.
struct Planned {
    at_us: i64,
    customer: u32,
    name: &'static str,
}

/// A customer's history: sessions spread over 30 days, each a walk down the funnel that
/// stops with some probability at every step, mixed with other events.
fn customer_events(rng: &mut StdRng, customer: u32, target: usize, start_us: i64, out: &mut Vec<Planned>) {
    let mut produced = 0;
    while produced < target {
        let mut at = start_us + rng.gen_range(0..30 * 86_400_000_000i64);
        for (step, name) in FUNNEL.iter().enumerate() {
            if produced >= target || (step > 0 && rng.gen_bool(0.45)) {
                break;
            }
            if rng.gen_bool(0.3) {
                out.push(Planned { at_us: at, customer, name: NOISE[rng.gen_range(0..NOISE.len())] });
                produced += 1;
                at += rng.gen_range(1..120) * 1_000_000;
            }
            out.push(Planned { at_us: at, customer, name });
            produced += 1;
            at += rng.gen_range(5..900) * 1_000_000;
        }
    }
}

fn event(customer: &str, name: &str, at_us: i64, rng: &mut StdRng) -> NewEvent {
    let at = Utc.timestamp_micros(at_us).single().unwrap_or_default();
    let channel = CHANNELS[rng.gen_range(0..CHANNELS.len())];
    let sku = format!("SKU-{}", rng.gen_range(0..500));
    NewEvent {
        message_id: format!("{customer}-{at_us}-{}", rng.gen::<u32>()),
        source_id: "bench".into(),
        kind: "track".into(),
        name: Some(name.into()),
        anonymous_id: None,
        user_id: Some(customer.into()),
        timestamp: at,
        original_timestamp: None,
        sent_at: None,
        received_at: at,
        properties: Some(JsonText::from_value(&json!({ "sku": sku, "channel": channel }))),
        traits: None,
        context: None,
    }
}

/// Waits for the store to have read its message ids back (a thread of its own does at every
/// start, 15-20 s at 100M events), so that the questions timed next do not share the two
/// cores with it; the seconds since `started`.
async fn message_ids_read_back(store: &Store, started: Instant) -> f64 {
    while !store.message_ids_read_back() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed().as_secs_f64()
}

fn p50(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// A memory figure of this process from /proc (`VmHWM:` peak, `VmRSS:` now), in MiB.
fn memory_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0.0)
        / 1024.0
}

fn peak_rss_mib() -> f64 {
    memory_mib("VmHWM:")
}

#[tokio::main]
async fn main() {
    let Args { quick, events: events_total, out, keep, funnels_only, duckdb_memory_mib } = args();
    let writer = || WriterConfig { duckdb_memory_mib, ..WriterConfig::default() };
    let customers = (events_total / 10).max(1);
    let dir = tempfile::tempdir().unwrap();
    let db = keep.clone().unwrap_or_else(|| dir.path().join("analytics.duckdb"));
    let reused = db.exists();
    let snapshot = server::index::snapshot::path_for(&db);
    // As the server does: the index loaded at start-up (empty here, unless the file is
    // reused), then kept current from every commit while the history is written.
    let (index, feed) = EventIndex::new();
    let opened = Instant::now();
    let store = Store::open(&db, writer(), Box::new(move |batch| feed.send(&batch))).unwrap();
    index.load_with_snapshot(&store, reused.then(|| snapshot.clone())).await.unwrap();
    if reused {
        let seconds = message_ids_read_back(&store, opened).await;
        let ids = store.remembered_message_ids().0;
        println!("message ids   {seconds:>8.1} s after opening the file, {ids} read back (the last 7 days')");
    }

    // History ending now, so "active in the last 30 minutes" has sessions too.
    let now = Utc::now();
    let start_us = (now - chrono::Duration::days(30)).timestamp_micros();
    let mut rng = StdRng::seed_from_u64(42);
    let per_customer = events_total / customers;
    let loading = Instant::now();
    let mut planned = Vec::with_capacity(if reused { 0 } else { events_total + customers });
    for customer in (0..customers).filter(|_| !reused) {
        customer_events(&mut rng, customer as u32, per_customer, start_us, &mut planned);
    }
    // Written in time order, as live traffic arrives: each customer's events end up spread
    // over the table, interleaved with everyone else's.
    planned.sort_unstable_by_key(|p| (p.at_us, p.customer));
    for chunk in planned.chunks(50_000) {
        let batch = chunk.iter().map(|p| event(&format!("c{:07}", p.customer), p.name, p.at_us, &mut rng)).collect();
        store.write(batch, vec![]).await.unwrap();
    }
    drop(planned);
    let load_seconds = loading.elapsed().as_secs_f64();
    println!(
        "loaded        {events_total} events for {customers} customers in {load_seconds:.1} s (RSS now {:.0} MiB, peak {:.0})",
        memory_mib("VmRSS:"),
        peak_rss_mib()
    );

    let index_bytes = index.read(|data| data.approximate_bytes()).await.unwrap() as f64;
    // Customers whose events changed since the index's last compaction (`index::arena`).
    let copied_out =
        index.read(|data| data.customers().iter().filter(|c| c.events.own_bytes() > 0).count() as f64).await.unwrap()
            / customers as f64;
    println!(
        "index         {:>8.1} bytes/event in memory ({:.0} % of the customers outside its arena)",
        index_bytes / events_total as f64,
        copied_out * 100.0
    );

    let analytics = Analytics::new(store.clone(), index.clone(), chrono::Duration::minutes(30));
    let journey = server::journeys::default_journey();
    let funnel_query = FunnelQuery {
        steps: Some(FUNNEL.join(",")),
        window: Some(86_400),
        from: Some(now - chrono::Duration::days(30)),
        to: Some(now),
        mode: Some(OrderMode::Sequential),
        ..FunnelQuery::default()
    };
    let time_funnel = |query: FunnelQuery| {
        let analytics = analytics.clone();
        async move {
            let mut times = Vec::new();
            let mut entered = 0;
            for _ in 0..5 {
                let spec = query.to_spec(now).unwrap();
                let started = Instant::now();
                let result = analytics.funnel(spec, TrendPeriod::Day, 5).await.unwrap();
                times.push(started.elapsed());
                entered = result.steps[0].customers;
            }
            let first_ms = times[0].as_secs_f64() * 1000.0;
            (p50(times), entered, first_ms)
        }
    };
    let (funnel_ms, entered, _) = time_funnel(funnel_query.clone()).await;
    println!("funnel        {funnel_ms:>8.1} ms p50  (5 steps, 30 days, {entered} customers entered)");
    let by_channel = FunnelQuery { breakdown: Some("channel".into()), ..funnel_query.clone() };
    let (breakdown_ms, _, first_breakdown_ms) = time_funnel(by_channel).await;
    println!("breakdown     {breakdown_ms:>8.1} ms p50  (the same, by the first step's channel)");
    println!("              {first_breakdown_ms:>8.1} ms the first time (materialising `channel` for every event)");
    if funnels_only {
        store.close().await;
        return;
    }

    let mut path_times = Vec::new();
    let mut path_customers = 0;
    for _ in 0..5 {
        let query = PathQuery {
            start: Some(FUNNEL[0].into()),
            depth: Some(5),
            from: Some(now - chrono::Duration::days(30)),
            to: Some(now),
            ..PathQuery::default()
        };
        let started = Instant::now();
        path_customers = analytics.paths(query.to_spec(now).unwrap()).await.unwrap().customers;
        path_times.push(started.elapsed());
    }
    let paths_ms = p50(path_times);
    println!("paths         {paths_ms:>8.1} ms p50  (after {}, depth 5, {path_customers} customers)", FUNNEL[0]);

    // Weekly retention of the customers first seen in the last 8 weeks, back with any event.
    let mut retention_times = Vec::new();
    let mut retention_customers = 0;
    for _ in 0..5 {
        let question = server::analytics::question::RetentionQuery::default().to_question(now).unwrap();
        let started = Instant::now();
        retention_customers = analytics.retention(question).await.unwrap().average.customers;
        retention_times.push(started.elapsed());
    }
    let retention_ms = p50(retention_times);
    println!("retention     {retention_ms:>8.1} ms p50  (8 weekly cohorts, first seen → any event, {retention_customers} customers)");

    // "Try on history": a count rule replayed over the 30 days (the rule engine's own code).
    let journeys = server::journeys::Journeys::load(store.clone()).await.unwrap();
    let rule: server::rules::Rule = serde_json::from_value(json!({ "id": "bench", "name": "twice in an hour",
        "condition": { "type": "count", "event": FUNNEL[0], "count": 2, "within_seconds": 3600 } }))
    .unwrap();
    let mut backtest_times = Vec::new();
    let mut backtest_alerts = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let tried = server::rule_engine::backtest::backtest(&index, &store, &journeys, rule.clone(), 30, now).await;
        backtest_alerts = tried.unwrap().alerts;
        backtest_times.push(started.elapsed());
    }
    let backtest_ms = p50(backtest_times);
    println!(
        "backtest      {backtest_ms:>8.1} ms p50  (a count rule over 30 days, {backtest_alerts} alerts it would raise)"
    );

    let stages = FunnelQuery {
        steps: Some(FUNNEL.join(",")),
        from: Some(now - chrono::Duration::days(30)),
        to: Some(now),
        window: Some(86_400),
        mode: Some(OrderMode::Sequential),
        ..FunnelQuery::default()
    }
    .to_spec(now)
    .unwrap();
    let stages = server::analytics::funnel::FunnelSpec {
        steps: journey.stages.iter().map(|stage| stage.matchers()).collect(),
        ..stages
    };
    let mut dropoff_times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        analytics.journey_dropoffs(&journey, stages.clone()).await.unwrap();
        dropoff_times.push(started.elapsed());
    }
    let dropoffs_ms = p50(dropoff_times);
    println!("drop-offs     {dropoffs_ms:>8.1} ms p50  (the journey's {} stages, 30 days)", journey.stages.len());

    let mut active_times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        analytics.active_stages(journey.clone(), Active::within(30), now).await.unwrap();
        active_times.push(started.elapsed());
    }
    let active_ms = p50(active_times);
    println!("active stages {active_ms:>8.1} ms p50");

    let mut timeline_times = Vec::new();
    for i in 0..21 {
        let id = format!("c{:07}", (i * 7919) % customers);
        let started = Instant::now();
        analytics.customer_timeline(&id, journey.clone()).await.unwrap();
        timeline_times.push(started.elapsed());
    }
    let timeline_ms = p50(timeline_times);
    println!("timeline      {timeline_ms:>8.1} ms p50");

    store.close().await;
    let bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64;
    // Only one index at a time from here, as in a server, so that the memory figures below
    // are a server's and not the sum of every index this program built.
    drop((analytics, index, store));
    server::memory::release_free_memory();

    // What a restart costs: the event index rebuilt from the file.
    let _ = std::fs::remove_file(&snapshot);
    let (index, feed) = EventIndex::new();
    let store = Store::open(&db, writer(), Box::new(move |batch| feed.send(&batch))).unwrap();
    let indexing = Instant::now();
    index.load_with_snapshot(&store, Some(snapshot.clone())).await.unwrap();
    let index_load_seconds = indexing.elapsed().as_secs_f64();
    println!("restart       {index_load_seconds:>8.1} s to rebuild the index from the file");
    // What `wayline serve` does at shutdown, and the next start with the snapshot.
    let saving = Instant::now();
    index.save().await.unwrap();
    let snapshot_save_seconds = saving.elapsed().as_secs_f64();
    let snapshot_bytes = std::fs::metadata(&snapshot).map(|m| m.len()).unwrap_or(0);
    store.close().await;
    drop(index);
    let (index, feed) = EventIndex::new();
    let store = Store::open(&db, writer(), Box::new(move |batch| feed.send(&batch))).unwrap();
    let indexing = Instant::now();
    index.load_with_snapshot(&store, Some(snapshot.clone())).await.unwrap();
    let snapshot_load_seconds = indexing.elapsed().as_secs_f64();
    println!(
        "restart       {snapshot_load_seconds:>8.1} s from the index snapshot ({:.0} MiB, saved in {snapshot_save_seconds:.1} s)",
        snapshot_bytes as f64 / 1_048_576.0
    );
    store.close().await;
    drop(index);
    if keep.is_none() {
        let _ = std::fs::remove_file(&snapshot);
    }

    // The journey map (the home page) as a browser asks for it, from the whole server on this
    // file: the first byte (the page streams; the range's numbers follow as they are
    // computed) and the whole page.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let site = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site"));
    let options =
        server::OpenOptions { duckdb_memory_mib, ..server::OpenOptions::new(server::leptos_options(&site, addr)) };
    let opened = Instant::now();
    let wayline = server::Wayline::open_with(server::Database::File(&db), options).await.unwrap();
    message_ids_read_back(&wayline.state.store, opened).await;
    let router = wayline.router().into_make_service();
    let serving = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (_, token) = wayline.state.accounts.add_token("bench", server::auth::Role::Viewer).await.unwrap();
    let http = reqwest::Client::new();
    let (mut first_byte, mut whole) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let started = Instant::now();
        let response = http.get(format!("http://{addr}/?days=7")).bearer_auth(&token).send().await.unwrap();
        first_byte.push(started.elapsed());
        let body = response.text().await.unwrap();
        whole.push(started.elapsed());
        assert!(body.contains("data-testid=\"stage-count\""), "the map rendered its stages");
    }
    let (map_first_byte_ms, map_whole_ms) = (p50(first_byte), p50(whole));
    println!("journey map   {map_first_byte_ms:>8.1} ms p50 to first byte, {map_whole_ms:.1} ms to the whole page");
    // What a server holds while it answers: its index, DuckDB's pool and the rest, with the
    // freed heap handed back as the server does every minute. The peak below also counts
    // this program's generated history and the indexes it built before.
    server::memory::release_free_memory();
    let serving_rss = memory_mib("VmRSS:");
    let held = ServingMemory::of(&wayline).await;
    serving.abort();
    wayline.close().await;
    let rss = peak_rss_mib();
    println!(
        "memory        {serving_rss:>8.0} MiB resident while serving; peak {rss:.0} MiB (with the generator's history)"
    );
    held.print(serving_rss, duckdb_memory_mib);
    println!("disk          {:>8.1} bytes/event", bytes / events_total as f64);
    let report = json!({
        "benchmark": "analytics",
        "quick": quick,
        "events": events_total,
        "customers": customers,
        "load_seconds": (!reused).then_some(load_seconds),
        "funnel_5_steps_30_days_ms_p50": funnel_ms,
        "funnel_customers_entered": entered,
        "funnel_with_breakdown_ms_p50": breakdown_ms,
        "funnel_with_breakdown_first_ms": first_breakdown_ms,
        "paths_depth_5_ms_p50": paths_ms,
        "journey_dropoffs_30_days_ms_p50": dropoffs_ms,
        "retention_8_weeks_ms_p50": retention_ms,
        "rule_backtest_30_days_ms_p50": backtest_ms,
        "index_load_seconds": index_load_seconds,
        "index_snapshot_load_seconds": snapshot_load_seconds,
        "index_snapshot_save_seconds": snapshot_save_seconds,
        "index_snapshot_bytes_per_event": snapshot_bytes as f64 / events_total as f64,
        "index_bytes_per_event": index_bytes / events_total as f64,
        "index_customers_outside_arena_share": copied_out,
        "active_sessions_per_stage_ms_p50": active_ms,
        "customer_timeline_ms_p50": timeline_ms,
        "journey_map_first_byte_ms_p50": map_first_byte_ms,
        "journey_map_whole_page_ms_p50": map_whole_ms,
        "database_bytes_per_event": bytes / events_total as f64,
        "peak_rss_mib": rss,
        "serving_rss_mib": serving_rss,
        "serving_duckdb_memory_limit_mib": duckdb_memory_mib,
        "serving_index_mib": held.index_mib,
        "serving_duckdb_pool_mib": held.duckdb_mib,
        "serving_message_ids_mib": held.message_ids_mib,
        "serving_heap_in_use_mib": held.heap_mib,
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {}", out.display());
}
