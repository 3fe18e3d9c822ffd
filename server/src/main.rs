//! `wayline`: the command line. `serve` (the default) runs the server; `demo` sends simulated
//! customer traffic to a running server.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio::sync::watch;

use server::{
    auth::Role,
    config::{FileConfig, Overrides, ServeSettings, DEFAULT_DEMO_RATE},
    demo::{self, DemoConfig},
    http::browser::HostPolicy,
    import::ImportConfig,
    ingest::IngestPolicy,
    leptos_options, telemetry, Database, IndexLoad, OpenOptions, Wayline,
};

#[derive(Debug, Parser)]
#[command(name = "wayline", version, about = "Wayline — the live customer-journey map")]
struct Cli {
    /// TOML config file (default: ./wayline.toml if it exists).
    #[arg(long, global = true, env = "WAYLINE__CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Send simulated customer journeys to a running Wayline over HTTP.
    Demo(DemoArgs),
    /// Manage sources (the apps and sites that send events) and their write keys.
    #[command(subcommand)]
    Source(SourceCommand),
    /// Send a file of Segment messages (NDJSON, optionally gzip) to a running Wayline.
    Import(ImportArgs),
    /// Manage the people who sign in to the dashboard, and their roles.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens for scripts and BI tools (sent as `Authorization: Bearer …`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Act on one customer's data.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Check a stopped server's database file (write-ahead log, schema, events stored twice);
    /// with --repair, fix what can be fixed after keeping a copy of the original files.
    Doctor {
        #[command(flatten)]
        db: DbArg,
        /// Repair what the check finds, after copying the database and its log aside.
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CustomerCommand {
    /// Erase a customer, across every identity linked to them, from everything Wayline keeps
    /// (events, identity links, dead letters naming them, alerts and their deliveries).
    Erase {
        /// Their user id or any of their anonymous ids.
        id: String,
        #[command(flatten)]
        db: DbArg,
    },
}

/// The DuckDB file an offline command works on.
#[derive(Debug, Args, Clone)]
struct DbArg {
    /// DuckDB file (default: data/wayline.duckdb). Stop the server first: DuckDB allows one process.
    #[arg(long, env = "WAYLINE__DB")]
    db: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; prints a generated password on the last line (shown only once).
    Add {
        email: String,
        /// viewer (reads, personal data masked), analyst (also edits, sees personal data) or admin.
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        db: DbArg,
    },
    /// List users and their roles.
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Remove a user; their sessions end.
    Remove {
        email: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Give a user a new generated password, printed on the last line; their sessions end.
    Password {
        email: String,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; prints it on the last line (shown only once, stored hashed).
    Add {
        /// Who uses it, e.g. "metabase".
        name: String,
        /// viewer, analyst or admin.
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        db: DbArg,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Revoke a token by id: from now on it is refused.
    Revoke {
        id: String,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Debug, Subcommand)]
enum SourceCommand {
    /// Create a source; prints its write key on the last line (shown only once).
    Add {
        /// A name for people, e.g. "Web shop".
        name: String,
        /// DuckDB file (default: data/wayline.duckdb). Stop the server first: DuckDB allows one process.
        #[arg(long, env = "WAYLINE__DB")]
        db: Option<PathBuf>,
    },
    /// List sources.
    List {
        #[arg(long, env = "WAYLINE__DB")]
        db: Option<PathBuf>,
    },
    /// Revoke a source's write key: refused from now on; its events stay.
    Revoke {
        /// The source's id, as `source list` shows it.
        id: String,
        #[arg(long, env = "WAYLINE__DB")]
        db: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// NDJSON file, one Segment message per line; gzip is recognised.
    file: PathBuf,
    /// The Wayline to send to.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    target: String,
    /// The source's write key.
    #[arg(long, env = "WAYLINE_WRITE_KEY")]
    write_key: String,
}

#[derive(Debug, Args, Clone, Default)]
struct ServeArgs {
    /// DuckDB file holding every event (default: data/wayline.duckdb).
    #[arg(long, env = "WAYLINE__DB")]
    db: Option<PathBuf>,
    /// Address to listen on (default: 127.0.0.1:3000).
    #[arg(long, env = "WAYLINE__ADDR")]
    addr: Option<String>,
    /// Directory with the built dashboard client (default: target/site).
    #[arg(long, env = "WAYLINE__SITE_ROOT")]
    site_root: Option<PathBuf>,
    /// Also run the demo traffic against this server.
    #[arg(long, env = "WAYLINE__DEMO")]
    demo: bool,
    /// Longest gap in minutes between two events of one session (default 30).
    #[arg(long, env = "WAYLINE__SESSION_GAP_MINUTES")]
    session_gap_minutes: Option<i64>,
    /// Demo traffic in events per second.
    #[arg(long, env = "WAYLINE__DEMO_RATE")]
    demo_rate: Option<f64>,
    /// Seed for repeatable demo traffic.
    #[arg(long = "seed", env = "WAYLINE__DEMO_SEED")]
    demo_seed: Option<u64>,
    /// Origin browsers may send events from (repeat for several; default any).
    #[arg(long = "cors-origin", env = "WAYLINE__CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Mark the session cookie `Secure`: set it when Wayline is served over HTTPS.
    #[arg(long, env = "WAYLINE__SECURE_COOKIES")]
    secure_cookies: bool,
    /// The host name people and SDKs reach Wayline by (e.g. wayline.example.com); requests for
    /// other names are refused, against DNS rebinding. Loopback names work when bound to loopback.
    #[arg(long, env = "WAYLINE__PUBLIC_HOST")]
    public_host: Option<String>,
    /// Let webhooks point at loopback, private and link-local addresses (refused by default).
    #[arg(long, env = "WAYLINE__ALLOW_PRIVATE_WEBHOOKS")]
    allow_private_webhooks: bool,
    /// How much of a sender's address (context.ip) is stored: truncated to /24 or /48 (the
    /// default), full, or none.
    #[arg(long, env = "WAYLINE__IP")]
    ip: Option<String>,
    /// Ingestion requests per second per write key, 0 for no limit (default 2000).
    #[arg(long, env = "WAYLINE__INGEST_RATE_PER_KEY")]
    ingest_rate_per_key: Option<u32>,
    /// Ingestion requests per second per client address, 0 for no limit (default 1000).
    #[arg(long, env = "WAYLINE__INGEST_RATE_PER_ADDRESS")]
    ingest_rate_per_address: Option<u32>,
    /// Trait or property holding personal data, masked for viewers (repeat or comma-separate;
    /// replaces the default email, phone, name, first_name, last_name, address, ip).
    #[arg(long = "pii-key", env = "WAYLINE__PII_KEYS", value_delimiter = ',')]
    pii_keys: Vec<String>,
    /// Delete events, dead letters, resolved alerts and delivery logs older than this many
    /// days, once a day (default: keep everything).
    #[arg(long, env = "WAYLINE__RETENTION_DAYS")]
    retention_days: Option<u32>,
    /// Write-ahead log size in KiB at which DuckDB folds the log into the database file
    /// (default 262144, 256 MiB): smaller means a quicker restart after a crash and more
    /// frequent, shorter checkpoints.
    #[arg(long, env = "WAYLINE__CHECKPOINT_KIB")]
    checkpoint_kib: Option<u32>,
    /// DuckDB's memory limit in MiB (default 2048): beyond it DuckDB spills to a temporary file
    /// beside the database instead of growing; the event index's memory comes on top.
    #[arg(long, env = "WAYLINE__DUCKDB_MEMORY_MIB")]
    duckdb_memory_mib: Option<u32>,
    /// Export traces of each event's path (ingest → commit → index → engine → alert →
    /// webhook) to this OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (default: none).
    /// Sampling follows OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
    #[arg(long, env = "WAYLINE__OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// The Wayline to send to.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    target: String,
    /// Events per second.
    #[arg(long, default_value_t = DEFAULT_DEMO_RATE)]
    rate: f64,
    /// Seed for repeatable traffic.
    #[arg(long)]
    seed: Option<u64>,
    /// Days of history to send first, with past timestamps.
    #[arg(long, default_value_t = 0.0)]
    backfill_days: f64,
    /// Seconds a simulated day lasts in live mode (returning customers come back this many seconds per "day").
    #[arg(long, default_value_t = 60)]
    day_seconds: u64,
    /// At most this many customers: once reached, arrivals are customers who had gone quiet,
    /// coming back (unset: every arrival is a new visitor).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    population: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    refuse_db_before_a_command(&cli)?;
    // `serve` installs logging once it knows whether traces are exported too.
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    if !serving {
        telemetry::init(None)?;
    }
    match cli.command {
        Some(Command::Demo(args)) => run_demo(args).await,
        Some(Command::Serve(args)) => serve(cli.config, args).await,
        Some(Command::Source(command)) => source(cli.config, command).await,
        Some(Command::Import(args)) => import(args).await,
        Some(Command::User(command)) => user(cli.config, command).await,
        Some(Command::Token(command)) => token(cli.config, command).await,
        Some(Command::Customer(command)) => customer(cli.config, command).await,
        Some(Command::Doctor { db, repair }) => doctor(cli.config, db.db, repair),
        None => serve(cli.config, cli.serve).await,
    }
}

/// The server's options may come without a command (`wayline --db FILE` serves FILE), but
/// `wayline --db FILE token add …` would parse FILE as the server's and open the default
/// database instead: refused, naming where `--db` goes. (`WAYLINE__DB` fills both, so it is
/// no mistake.)
fn refuse_db_before_a_command(cli: &Cli) -> anyhow::Result<()> {
    let flag_before = cli.serve.db.is_some() && std::env::var_os("WAYLINE__DB").is_none();
    if cli.command.is_some() && flag_before {
        anyhow::bail!(
            "--db was given before the command, where it would be ignored; put it after the command, \
             e.g. `wayline token add --db FILE NAME --role viewer` or `wayline serve --db FILE`"
        );
    }
    Ok(())
}

async fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let config = DemoConfig {
        target: args.target,
        rate: args.rate,
        seed: args.seed,
        backfill: Duration::from_secs_f64((args.backfill_days.max(0.0)) * 86_400.0),
        live_day: Duration::from_secs(args.day_seconds.max(1)),
        population: args.population,
    };
    let report = demo::run(config, stop).await?;
    println!(
        "demo sent {} events in {} requests ({} retried)",
        report.events_sent, report.requests, report.failed_requests
    );
    Ok(())
}

async fn serve(config: Option<PathBuf>, args: ServeArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(config.as_deref())?;
    let overrides = Overrides {
        db: args.db,
        addr: args.addr,
        site_root: args.site_root,
        cors_origins: (!args.cors_origins.is_empty()).then_some(args.cors_origins),
        demo: args.demo.then_some(true),
        demo_rate: args.demo_rate,
        demo_seed: args.demo_seed,
        session_gap_minutes: args.session_gap_minutes,
        secure_cookies: args.secure_cookies.then_some(true),
        public_host: args.public_host,
        allow_private_webhooks: args.allow_private_webhooks.then_some(true),
        ip: args.ip,
        ingest_rate_per_key: args.ingest_rate_per_key,
        ingest_rate_per_address: args.ingest_rate_per_address,
        pii_keys: (!args.pii_keys.is_empty()).then_some(args.pii_keys),
        retention_days: args.retention_days,
        checkpoint_kib: args.checkpoint_kib,
        duckdb_memory_mib: args.duckdb_memory_mib,
        otlp_endpoint: args.otlp_endpoint,
    };
    let settings = ServeSettings::resolve(file, overrides)?;
    let telemetry = telemetry::init(settings.otlp_endpoint.as_deref())?;
    if !settings.site_root.join("pkg").exists() {
        tracing::warn!(
            site_root = %settings.site_root.display(),
            "the dashboard client is not built here; pages will render without interactivity (run scripts/build.sh)"
        );
    }

    if settings.public_host.is_none() && !settings.addr.ip().is_loopback() {
        tracing::warn!(
            addr = %settings.addr,
            "no public_host is set: requests for any host name are answered (set --public-host to refuse DNS rebinding)"
        );
    }
    let options = OpenOptions {
        cors_origins: settings.cors_origins.clone(),
        session_gap: chrono::Duration::minutes(settings.session_gap_minutes),
        // The public demo key works only while the demo runs.
        demo_key: settings.demo.is_some(),
        secure_cookies: settings.secure_cookies,
        host_policy: HostPolicy::new(settings.addr, settings.public_host.as_deref()),
        allow_private_webhooks: settings.allow_private_webhooks,
        ingest: IngestPolicy { rates: settings.ingest_rates, ip: settings.ip, ..IngestPolicy::default() },
        pii_keys: settings.pii_keys.clone(),
        retention_days: settings.retention_days,
        checkpoint_kib: settings.checkpoint_kib,
        duckdb_memory_mib: settings.duckdb_memory_mib,
        // Ingestion answers from the first second; questions wait for the index (503).
        index_load: IndexLoad::Background,
        ..OpenOptions::new(leptos_options(&settings.site_root, settings.addr))
    };
    let wayline = Wayline::open_with(Database::File(&settings.db), options)
        .await
        .with_context(|| format!("opening the event store {}", settings.db.display()))?;
    let was_empty = wayline.state.store.recent_events(1).await?.is_empty();
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("listening on {} (is another Wayline running? pass --addr)", settings.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, db = %settings.db.display(), "Wayline is running: open http://{addr}/");

    let (stop_demo, demo_stop) = watch::channel(false);
    let demo_task = settings.demo.clone().map(|demo| {
        // A server on every address (0.0.0.0) is reached on loopback, a name it answers to.
        let local = if addr.ip().is_unspecified() {
            std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        let config = DemoConfig {
            target: format!("http://{local}"),
            rate: demo.rate,
            seed: demo.seed,
            // A fresh database gets three days of history so funnels have data at once.
            backfill: if was_empty { Duration::from_secs(3 * 86_400) } else { Duration::ZERO },
            live_day: Duration::from_secs(60),
            population: None,
        };
        tracing::info!(rate = demo.rate, "demo traffic starting");
        tokio::spawn(demo::run(config, demo_stop))
    });

    // `into_make_service` hands each connection a clone of the finished router (one shared
    // pointer); serving the `Router` itself rebuilds its route tables for every connection,
    // about 60 KB each, which many open event streams multiply.
    // Connection info gives the sign-in throttle the client's address.
    let router = wayline.router().into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, router).with_graceful_shutdown({
        let stopping = async {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing requests and draining the write queue");
        };
        let wayline = wayline.clone();
        async move {
            stopping.await;
            let _ = stop_demo.send(true);
            wayline.begin_shutdown();
        }
    });
    server.await.context("serving HTTP")?;
    if let Some(task) = demo_task {
        let _ = task.await;
    }
    wayline.close().await;
    // The exporter's last batch goes out from its own thread, which waits on this runtime.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Opens the database for a command that works on it while the server is stopped.
async fn open_offline(config: Option<PathBuf>, db: Option<PathBuf>) -> anyhow::Result<Wayline> {
    let file = FileConfig::load(config.as_deref())?;
    let settings = ServeSettings::resolve(file, Overrides { db, ..Default::default() })?;
    // These commands ask no question: the event index is not loaded (nor saved again).
    let options = OpenOptions {
        index_load: IndexLoad::Skip,
        ..OpenOptions::new(leptos_options(&settings.site_root, settings.addr))
    };
    Wayline::open_with(Database::File(&settings.db), options).await.with_context(|| {
        format!(
            "opening {} (if `wayline serve` is running on it, stop it first: DuckDB lets one process open the file)",
            settings.db.display()
        )
    })
}

async fn source(config: Option<PathBuf>, command: SourceCommand) -> anyhow::Result<()> {
    let db = match &command {
        SourceCommand::Add { db, .. } | SourceCommand::List { db } | SourceCommand::Revoke { db, .. } => db.clone(),
    };
    let wayline = open_offline(config, db).await?;
    match command {
        SourceCommand::Add { name, .. } => {
            let (record, key) = wayline.state.sources.create(&name).await?;
            println!("created source {} ({})", record.id, record.name);
            println!("send events with this write key as the HTTP Basic user name, or as \"writeKey\" in the body.");
            println!("it is shown only now; Wayline keeps only its hash. write key:");
            println!("{key}");
        }
        SourceCommand::List { .. } => {
            for source in wayline.state.store.sources().await? {
                let revoked = source.revoked_at.map(|at| format!("\trevoked {}", at.to_rfc3339())).unwrap_or_default();
                println!("{}\t{}\tcreated {}{revoked}", source.id, source.name, source.created_at.to_rfc3339());
            }
        }
        SourceCommand::Revoke { id, .. } => {
            if wayline.state.sources.revoke(&id).await? {
                println!("revoked the write key of {id}; its events stay");
            } else {
                wayline.close().await;
                anyhow::bail!("no source {id} with a working key (see `wayline source list`)");
            }
        }
    }
    wayline.close().await;
    Ok(())
}

/// `wayline doctor`: exits non-zero while a problem remains.
fn doctor(config: Option<PathBuf>, db: Option<PathBuf>, repair: bool) -> anyhow::Result<()> {
    let file = FileConfig::load(config.as_deref())?;
    let settings = ServeSettings::resolve(file, Overrides { db, ..Default::default() })?;
    let checkup = if repair {
        let repair = server::doctor::repair(&settings.db, chrono::Utc::now())?;
        for action in &repair.actions {
            println!("repaired {action}");
        }
        repair.after
    } else {
        server::doctor::check(&settings.db)?
    };
    print!("{checkup}");
    if checkup.healthy() {
        println!("{} is healthy", settings.db.display());
        Ok(())
    } else {
        anyhow::bail!("{} has problems; see the fixes above", settings.db.display())
    }
}

async fn customer(config: Option<PathBuf>, command: CustomerCommand) -> anyhow::Result<()> {
    let CustomerCommand::Erase { id, db } = command;
    let wayline = open_offline(config, db.db).await?;
    let outcome = server::erasure::erase_stored(&wayline.state.store, &id).await;
    wayline.close().await;
    // The saved event index may hold the customer: it goes, and the next start rebuilds it.
    if let (Ok(_), Some(snapshot)) = (&outcome, wayline.index_snapshot()) {
        match std::fs::remove_file(snapshot) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                anyhow::bail!(
                    "erased from the database, but could not remove {}: {e}; remove it by hand",
                    snapshot.display()
                )
            }
            _ => {}
        }
    }
    let erased = outcome?;
    let rows: Vec<String> = erased.rows.iter().map(|(table, n)| format!("{table} {n}")).collect();
    println!("erased {} ({}): {}", id, erased.identities.join(", "), rows.join(", "));
    Ok(())
}

async fn user(config: Option<PathBuf>, command: UserCommand) -> anyhow::Result<()> {
    let db = match &command {
        UserCommand::Add { db, .. }
        | UserCommand::List { db }
        | UserCommand::Remove { db, .. }
        | UserCommand::Password { db, .. } => db.db.clone(),
    };
    let wayline = open_offline(config, db).await?;
    let accounts = &wayline.state.accounts;
    let outcome = async {
        match command {
            UserCommand::Add { email, role, .. } => {
                let (user, password) = accounts.add_user(&email, role).await?;
                println!("created {} ({}); sign in at /login. it is shown only now. password:", user.email, user.role);
                println!("{password}");
            }
            UserCommand::List { .. } => {
                for user in accounts.users() {
                    println!("{}\t{}\tcreated {}", user.email, user.role, user.created_at.to_rfc3339());
                }
            }
            UserCommand::Remove { email, .. } => {
                accounts.remove_user(&email).await?;
                println!("removed {email}; their sessions have ended");
            }
            UserCommand::Password { email, .. } => {
                let password = accounts.reset_password(&email).await?;
                println!("new password for {email} (their sessions have ended). it is shown only now. password:");
                println!("{password}");
            }
        }
        anyhow::Ok(())
    }
    .await;
    wayline.close().await;
    outcome
}

async fn token(config: Option<PathBuf>, command: TokenCommand) -> anyhow::Result<()> {
    let db = match &command {
        TokenCommand::Add { db, .. } | TokenCommand::List { db } | TokenCommand::Revoke { db, .. } => db.db.clone(),
    };
    let wayline = open_offline(config, db).await?;
    let accounts = &wayline.state.accounts;
    let outcome = async {
        match command {
            TokenCommand::Add { name, role, .. } => {
                let (token, secret) = accounts.add_token(&name, role).await?;
                println!("created token {} \"{}\" ({})", token.id, token.name, token.role);
                println!(
                    "send it as `Authorization: Bearer …`. it is shown only now; Wayline keeps only its hash. token:"
                );
                println!("{secret}");
            }
            TokenCommand::List { .. } => {
                for token in accounts.tokens() {
                    let state =
                        token.revoked_at.map_or("active".to_string(), |at| format!("revoked {}", at.to_rfc3339()));
                    println!(
                        "{}\t{}\t{}\tcreated {}\t{state}",
                        token.id,
                        token.name,
                        token.role,
                        token.created_at.to_rfc3339()
                    );
                }
            }
            TokenCommand::Revoke { id, .. } => {
                let token = accounts.revoke_token(&id).await?;
                println!("revoked {} \"{}\"", token.id, token.name);
            }
        }
        anyhow::Ok(())
    }
    .await;
    wayline.close().await;
    outcome
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let config = ImportConfig { file: args.file, target: args.target, write_key: args.write_key, progress };
    let summary = server::import::run(config).await?;
    print!("{summary}");
    if summary.refused_total() > 0 {
        println!("refused messages are kept in the dead-letter table: GET /api/v1/dead-letters");
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
