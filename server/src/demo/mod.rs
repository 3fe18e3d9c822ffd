//! The demo simulator: realistic customer journeys sent to a running Wayline through its
//! public HTTP API (`/v1/batch`), exactly as an SDK would, never through a back door.

pub mod journeys;

use std::{cmp::Reverse, collections::BinaryHeap, time::Duration};

use chrono::{DateTime, Utc};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tokio::sync::watch;

use crate::sources::DEMO_WRITE_KEY;
use journeys::{plan_visit, Customer};

/// Settings of one simulator run.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Base address of the Wayline to send to, e.g. `http://127.0.0.1:3000`.
    pub target: String,
    /// Live traffic, in events per second (on average).
    pub rate: f64,
    /// Makes the customers and what they do repeatable.
    pub seed: Option<u64>,
    /// History to send first, with past timestamps, so that funnels have data at once.
    pub backfill: Duration,
    /// How long a simulated day lasts in live mode, so that "comes back three days later"
    /// is visible within minutes.
    pub live_day: Duration,
    /// At most this many customers in live mode: once there are as many, each arrival is a
    /// customer who had gone quiet, coming back (a shop with a known customer base, and a
    /// soak whose memory can settle). `None`: every arrival is a new visitor.
    pub population: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo rate must be a positive number of events per second, got {0}")]
    BadRate(f64),
    #[error("could not build the HTTP client: {0}")]
    Client(reqwest::Error),
}

/// What a run sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DemoReport {
    pub events_sent: u64,
    pub requests: u64,
    pub failed_requests: u64,
}

impl DemoReport {
    fn count(&mut self, events: usize, delivered: bool) {
        self.requests += 1;
        if delivered {
            self.events_sent += events as u64;
        } else {
            self.failed_requests += 1;
        }
    }
}

/// How often the simulator wakes up to send what is due.
const TICK: Duration = Duration::from_millis(250);
/// Largest batch the simulator sends in one request.
const MAX_BATCH: usize = 500;
/// Batches the simulator has in flight at once: SDKs on many devices send side by side, and
/// one batch at a time could not reach a high rate while each waits for its commit.
const IN_FLIGHT: usize = 4;
/// How long a typical visit lasts: the live stream starts with this much traffic in flight.
const WARM_UP: Duration = Duration::from_secs(300);
/// New visitors per simulated day in the backfill.
const BACKFILL_VISITORS_PER_DAY: f64 = 300.0;

enum Due {
    /// A planned message as compact JSON text, parsed again when it is due: a live demo at
    /// 10,000 events/s holds minutes of planned messages, far smaller as text than as
    /// `Value`s (a map per object, a heap string per key).
    Message(Box<str>),
    Return(Box<Customer>),
}

/// Things that happen at a time, in time order (ties in insertion order).
struct Schedule {
    heap: BinaryHeap<Reverse<(DateTime<Utc>, u64)>>,
    items: std::collections::HashMap<u64, Due>,
    next: u64,
}

impl Schedule {
    fn new() -> Self {
        Schedule { heap: BinaryHeap::new(), items: Default::default(), next: 0 }
    }

    fn push(&mut self, at: DateTime<Utc>, item: Due) {
        self.heap.push(Reverse((at, self.next)));
        self.items.insert(self.next, item);
        self.next += 1;
    }

    fn pop_due(&mut self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, Due)> {
        let Reverse((at, _)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        let Reverse((at, id)) = self.heap.pop()?;
        self.items.remove(&id).map(|item| (at, item))
    }
}

/// The simulated world: customers, their planned steps and the ids they get.
struct World {
    rng: StdRng,
    schedule: Schedule,
    day: chrono::Duration,
    run_tag: String,
    message_count: u64,
    /// Running mean of messages per new visitor (returns included), to hit the rate.
    messages_per_visitor: f64,
    visitors: u64,
    /// Customers created so far, and the bound on them ([`DemoConfig::population`]).
    customers: u64,
    population: Option<u64>,
    /// Customers who went quiet, kept only when the population is bounded.
    quiet: Vec<Customer>,
}

impl World {
    fn new(seed: Option<u64>, day: chrono::Duration, population: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        // Ids differ between runs (so a re-run is not deduplicated away) while the
        // story itself follows the seed.
        let run_tag = format!("{:x}", Utc::now().timestamp_millis());
        World {
            rng,
            schedule: Schedule::new(),
            day,
            run_tag,
            message_count: 0,
            messages_per_visitor: 12.0,
            visitors: 0,
            customers: 0,
            population,
            quiet: Vec::new(),
        }
    }

    /// A visitor arrives at `at`: a new one, or once the population is complete, one of
    /// the customers who went quiet (none arrives if every customer is mid-visit).
    fn arrive(&mut self, at: DateTime<Utc>) {
        let customer = if self.population.is_some_and(|n| self.customers >= n) {
            if self.quiet.is_empty() {
                return;
            }
            let pick = self.rng.gen_range(0..self.quiet.len());
            Box::new(self.quiet.swap_remove(pick))
        } else {
            self.customers += 1;
            Box::new(Customer::new(&mut self.rng))
        };
        self.visitors += 1;
        self.schedule.push(at, Due::Return(customer));
    }

    /// Plans a visit starting at `at` and schedules its messages and the customer's return.
    fn visit(&mut self, at: DateTime<Utc>, mut customer: Box<Customer>) {
        let visit = plan_visit(&mut self.rng, &mut customer);
        let planned = visit.steps.len() as f64;
        // Each visit counts with the returns it tends to bring (about 0.4 more visits).
        self.messages_per_visitor = 0.99 * self.messages_per_visitor + 0.01 * planned * 1.4;
        for step in visit.steps {
            let due = at + chrono::Duration::from_std(step.at).unwrap_or_default();
            self.schedule.push(due, Due::Message(step.message.to_string().into_boxed_str()));
        }
        if let Some(days) = visit.returns_after_days {
            let later = chrono::Duration::milliseconds((self.day.num_milliseconds() as f64 * days) as i64);
            self.schedule.push(at + later, Due::Return(customer));
        } else if self.population.is_some() {
            self.quiet.push(*customer);
        }
    }

    /// What is due up to `now`, as JSON messages stamped with their time and id, until `out`
    /// holds `up_to` of them (the rest stay planned, as compact text, for the next call).
    fn due_messages(&mut self, now: DateTime<Utc>, out: &mut Vec<String>, up_to: usize) {
        while out.len() < up_to {
            let Some((at, item)) = self.schedule.pop_due(now) else { break };
            match item {
                Due::Return(customer) => self.visit(at, customer),
                Due::Message(text) => {
                    self.message_count += 1;
                    let id = format!("demo-{}-{}-{:08x}", self.run_tag, self.message_count, self.rng.gen::<u32>());
                    out.push(stamped(&text, &id, at));
                }
            }
        }
    }
}

/// A planned message (a JSON object without `messageId` or `timestamp`) with both added as
/// text: parsed into a `Value`, changed and written out again, a message cost the demo more
/// than the server spent storing it (the allocator was about 60 % of the demo's CPU in a
/// soak profile, on a machine the two share).
fn stamped(planned: &str, id: &str, at: DateTime<Utc>) -> String {
    let open = planned.strip_suffix('}').expect("a planned message is a JSON object");
    let mut message = String::with_capacity(planned.len() + id.len() + 64);
    message.push_str(open);
    if !open.ends_with('{') {
        message.push(',');
    }
    // The id is made of ASCII letters, digits and dashes: nothing to escape.
    message.push_str("\"messageId\":\"");
    message.push_str(id);
    message.push_str("\",\"timestamp\":\"");
    message.push_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    message.push_str("\"}");
    message
}

/// A `/v1/batch` body of messages that are JSON objects already.
fn batch_body(messages: &[String], sent_at: DateTime<Utc>) -> String {
    let mut body = String::with_capacity(messages.iter().map(|m| m.len() + 1).sum::<usize>() + 64);
    body.push_str("{\"batch\":[");
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(message);
    }
    body.push_str("],\"sentAt\":\"");
    body.push_str(&sent_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    body.push_str("\"}");
    body
}

/// Runs the simulator until `stop` turns true.
pub async fn run(config: DemoConfig, mut stop: watch::Receiver<bool>) -> Result<DemoReport, DemoError> {
    if !(config.rate.is_finite() && config.rate > 0.0) {
        return Err(DemoError::BadRate(config.rate));
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(DemoError::Client)?;
    let url = format!("{}/v1/batch", config.target.trim_end_matches('/'));
    let mut report = DemoReport::default();

    if !config.backfill.is_zero() {
        let day = chrono::Duration::days(1);
        let mut world = World::new(config.seed.map(|s| s ^ 0xBAC0_F111), day, None);
        let now = Utc::now();
        let span = chrono::Duration::from_std(config.backfill).unwrap_or_default();
        let visitors = (BACKFILL_VISITORS_PER_DAY * config.backfill.as_secs_f64() / 86_400.0).round() as u64;
        for _ in 0..visitors {
            let offset = world.rng.gen_range(0..span.num_milliseconds().max(1));
            world.arrive(now - span + chrono::Duration::milliseconds(offset));
        }
        let mut history = Vec::new();
        world.due_messages(now, &mut history, usize::MAX);
        tracing::info!(events = history.len(), "demo: sending backfill history");
        for chunk in history.chunks(MAX_BATCH) {
            send_until_accepted(&client, &url, chunk, &mut report, &mut stop).await;
            if *stop.borrow() {
                return Ok(report);
            }
        }
    }

    let live_day = chrono::Duration::from_std(config.live_day).unwrap_or(chrono::Duration::minutes(1));
    let mut world = World::new(config.seed, live_day, config.population);
    // Start mid-stream: the visitors who would have arrived during the last few minutes are
    // already browsing, so the stream runs at its rate from the first second.
    let now = Utc::now();
    let warm_visitors = (config.rate / world.messages_per_visitor * WARM_UP.as_secs_f64()).round() as u64;
    for _ in 0..warm_visitors {
        let ago = world.rng.gen_range(0..WARM_UP.as_millis() as i64);
        world.arrive(now - chrono::Duration::milliseconds(ago));
    }
    let mut credit = 0.0_f64;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_log = tokio::time::Instant::now();
    let mut pending = Vec::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let now = Utc::now();
        // New visitors arrive at the rate that yields `rate` events per second on average.
        credit += config.rate / world.messages_per_visitor.max(1.0) * TICK.as_secs_f64();
        while credit >= 1.0 {
            credit -= 1.0;
            let jitter = chrono::Duration::milliseconds(world.rng.gen_range(0..TICK.as_millis() as i64));
            world.arrive(now - jitter);
        }
        // The warm start's visitors have minutes of messages due at once: they are taken a few
        // batches at a time, so that only what is in flight is held as JSON values.
        loop {
            world.due_messages(now, &mut pending, IN_FLIGHT * MAX_BATCH);
            if pending.is_empty() || *stop.borrow() {
                break;
            }
            let batches: Vec<Vec<String>> = (0..IN_FLIGHT)
                .map_while(|_| (!pending.is_empty()).then(|| pending.drain(..pending.len().min(MAX_BATCH)).collect()))
                .collect();
            let delivered = futures::future::join_all(batches.iter().map(|b| send_once(&client, &url, b))).await;
            let mut refused = Vec::new();
            for (batch, delivered) in batches.into_iter().zip(delivered) {
                report.count(batch.len(), delivered);
                if !delivered {
                    refused.extend(batch);
                }
            }
            if !refused.is_empty() {
                // Keep them for the next tick: the demo loses nothing either.
                pending.splice(0..0, refused);
                break;
            }
        }
        if last_log.elapsed() >= Duration::from_secs(30) {
            tracing::info!(
                sent = report.events_sent,
                visitors = world.visitors,
                customers = world.customers,
                "demo traffic"
            );
            last_log = tokio::time::Instant::now();
        }
    }
    Ok(report)
}

async fn send_until_accepted(
    client: &reqwest::Client,
    url: &str,
    batch: &[String],
    report: &mut DemoReport,
    stop: &mut watch::Receiver<bool>,
) {
    let mut wait = Duration::from_millis(200);
    loop {
        let delivered = send_once(client, url, batch).await;
        report.count(batch.len(), delivered);
        if delivered {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// Sends one batch; true if Wayline committed it.
async fn send_once(client: &reqwest::Client, url: &str, batch: &[String]) -> bool {
    let request = client
        .post(url)
        .basic_auth(DEMO_WRITE_KEY, Some(""))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(batch_body(batch, Utc::now()));
    match request.send().await {
        Ok(response) if response.status().is_success() => true,
        Ok(response) => {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            tracing::warn!(%status, body = %text, "demo batch refused; will retry");
            false
        }
        Err(error) => {
            tracing::warn!(%error, "demo batch not delivered; will retry");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::Value;

    use super::*;

    fn parsed(messages: &[String]) -> Vec<Value> {
        messages.iter().map(|m| serde_json::from_str(m).expect("a due message is JSON")).collect()
    }

    #[test]
    fn a_batch_body_holds_each_planned_message_with_its_id_and_time() {
        let at = DateTime::parse_from_rfc3339("2026-01-01T10:00:00.250Z").unwrap().with_timezone(&Utc);
        let planned = [
            r#"{"type":"track","event":"signed_up","properties":{"method":"email","note":"a } and a \"quote\""}}"#,
            "{}",
        ];
        let messages: Vec<String> =
            planned.iter().enumerate().map(|(i, p)| stamped(p, &format!("demo-1-{i}-00ab"), at)).collect();
        let body: Value = serde_json::from_str(&batch_body(&messages, at)).expect("the body is JSON");
        assert_eq!(body["sentAt"], "2026-01-01T10:00:00.250Z");
        let batch = body["batch"].as_array().expect("a batch");
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0]["event"], "signed_up");
        assert_eq!(batch[0]["properties"]["note"], "a } and a \"quote\"");
        assert_eq!(batch[0]["messageId"], "demo-1-0-00ab");
        assert_eq!(batch[0]["timestamp"], "2026-01-01T10:00:00.250Z");
        assert_eq!(
            batch[1],
            serde_json::json!({ "messageId": "demo-1-1-00ab", "timestamp": "2026-01-01T10:00:00.250Z" })
        );
        let empty: Value = serde_json::from_str(&batch_body(&[], at)).expect("an empty batch is JSON");
        assert_eq!(empty["batch"], serde_json::json!([]));
    }

    /// Ten simulated hours with five arrivals a minute, as anonymous ids seen and arrivals.
    fn ten_hours(population: Option<u64>) -> (usize, u64) {
        let mut world = World::new(Some(7), chrono::Duration::seconds(60), population);
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let mut messages = Vec::new();
        for minute in 0..600 {
            let now = start + chrono::Duration::minutes(minute);
            for _ in 0..5 {
                world.arrive(now);
            }
            world.due_messages(now, &mut messages, usize::MAX);
        }
        let messages = parsed(&messages);
        let ids: HashSet<&str> = messages.iter().filter_map(|m| m["anonymousId"].as_str()).collect();
        (ids.len(), world.visitors)
    }

    #[test]
    fn a_bounded_population_brings_back_quiet_customers_instead_of_new_ones() {
        let (customers, arrivals) = ten_hours(Some(50));
        assert_eq!(customers, 50);
        assert!(arrivals > 500, "quiet customers keep coming back: {arrivals} arrivals");
        // Unbounded, every arrival is a new visitor.
        assert_eq!(ten_hours(None), (3_000, 3_000));
    }

    #[test]
    fn what_is_due_is_taken_a_few_at_a_time_in_time_order_and_nothing_is_left_out() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let warm_start = |world: &mut World| {
            for minute in 0..30 {
                world.arrive(start - chrono::Duration::minutes(minute));
            }
        };
        let mut at_once = World::new(Some(3), chrono::Duration::days(1), None);
        warm_start(&mut at_once);
        let mut all = Vec::new();
        at_once.due_messages(start, &mut all, usize::MAX);
        assert!(all.len() > 40, "the warm start has a backlog: {}", all.len());

        let mut in_steps = World::new(Some(3), chrono::Duration::days(1), None);
        warm_start(&mut in_steps);
        let mut taken = Vec::new();
        loop {
            let mut step = Vec::new();
            in_steps.due_messages(start, &mut step, 7);
            assert!(step.len() <= 7, "never more than asked for: {}", step.len());
            if step.is_empty() {
                break;
            }
            taken.extend(step);
        }
        let story = |messages: &[String]| -> Vec<(String, String)> {
            parsed(messages).iter().map(|m| (m["timestamp"].to_string(), m["anonymousId"].to_string())).collect()
        };
        assert_eq!(story(&taken), story(&all), "the same messages in the same order");
        let times = story(&taken).into_iter().map(|(t, _)| t).collect::<Vec<_>>();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    }
}
