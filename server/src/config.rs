//! Settings in layers: built-in defaults, then a TOML file, then `WAYLINE__…` environment
//! variables and command-line flags (clap reads both; a flag wins over its variable).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use app::privacy::PiiKeys;

use crate::ingest::{IpPolicy, RateLimits};

/// Default location of the DuckDB file, relative to the working directory.
pub const DEFAULT_DB: &str = "data/wayline.duckdb";
/// Default listening address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
/// Default directory holding the built client (`pkg/`) and static assets.
pub const DEFAULT_SITE_ROOT: &str = "target/site";
/// Default config file, read if present.
pub const DEFAULT_CONFIG_FILE: &str = "wayline.toml";
/// Default demo traffic, in events per second.
pub const DEFAULT_DEMO_RATE: f64 = 8.0;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read the config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the config file {path} is not valid: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("{value:?} is not a listening address; use host:port, e.g. 127.0.0.1:3000")]
    Addr { value: String },
    #[error("session_gap_minutes = {value} is out of range; use 1 to 1440 (a day)")]
    SessionGap { value: i64 },
    #[error("retention_days = {value} is out of range; use 1 to 36500, or leave it out to keep everything")]
    Retention { value: u32 },
    #[error("ip = {value:?} is not an address policy; use truncated (the default), full or none")]
    IpPolicy { value: String },
    #[error("checkpoint_kib = {value} is out of range; use 64 to 4194304 (4 GiB; the default is 262144, 256 MiB)")]
    CheckpointKib { value: u32 },
    #[error("duckdb_memory_mib = {value} is out of range; use 128 to 1048576 (1 TiB; the default is 2048, 2 GiB)")]
    DuckdbMemory { value: u32 },
}

/// The write-ahead log's size, in KiB, at which DuckDB folds it into the database file.
pub const DEFAULT_CHECKPOINT_KIB: u32 = 256 * 1024;
const CHECKPOINT_KIB_RANGE: std::ops::RangeInclusive<u32> = 64..=4 * 1024 * 1024;
/// DuckDB's memory limit, in MiB. DuckDB's own default is 80 % of the machine, which leaves
/// nothing for the event index; beyond the limit it spills to a temporary file beside the
/// database instead of growing.
pub const DEFAULT_DUCKDB_MEMORY_MIB: u32 = 2048;
const DUCKDB_MEMORY_MIB_RANGE: std::ops::RangeInclusive<u32> = 128..=1024 * 1024;

pub use crate::analytics::stages::DEFAULT_SESSION_GAP_MINUTES;

/// What a config file may set; every key optional.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub db: Option<PathBuf>,
    pub addr: Option<String>,
    pub site_root: Option<PathBuf>,
    pub cors_origins: Option<Vec<String>>,
    pub session_gap_minutes: Option<i64>,
    /// Mark the session cookie `Secure` (Wayline is served over HTTPS).
    pub secure_cookies: Option<bool>,
    /// The host name Wayline is reached by; other names are refused.
    pub public_host: Option<String>,
    /// Webhooks may point at loopback and private addresses.
    pub allow_private_webhooks: Option<bool>,
    /// How much of `context.ip` is stored: truncated, full or none.
    pub ip: Option<String>,
    /// Ingestion requests per second per write key (0: no limit).
    pub ingest_rate_per_key: Option<u32>,
    /// Ingestion requests per second per client address (0: no limit).
    pub ingest_rate_per_address: Option<u32>,
    /// Traits and properties masked for viewers (replaces the default list).
    pub pii_keys: Option<Vec<String>>,
    /// Delete data older than this many days, once a day (default: keep everything).
    pub retention_days: Option<u32>,
    /// Write-ahead log size, in KiB, that makes DuckDB fold it into the database file.
    pub checkpoint_kib: Option<u32>,
    /// DuckDB's memory limit, in MiB.
    pub duckdb_memory_mib: Option<u32>,
    /// OTLP/HTTP collector that traces of each event's path are exported to.
    pub otlp_endpoint: Option<String>,
    #[serde(default)]
    pub demo: DemoFileConfig,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DemoFileConfig {
    pub enabled: Option<bool>,
    pub rate: Option<f64>,
    pub seed: Option<u64>,
}

impl FileConfig {
    /// Reads `path`; a missing default file is no error, a missing named file is.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path, source: Box::new(source) })
    }
}

/// What `wayline serve` runs with, after all layers.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeSettings {
    pub db: PathBuf,
    pub addr: SocketAddr,
    pub site_root: PathBuf,
    /// Origins browsers may send events from; `*` for any.
    pub cors_origins: Vec<String>,
    /// The longest gap between two events of one session.
    pub session_gap_minutes: i64,
    /// Session cookies carry `Secure`.
    pub secure_cookies: bool,
    /// The host name Wayline is reached by, if set.
    pub public_host: Option<String>,
    /// Webhooks may point at loopback and private addresses.
    pub allow_private_webhooks: bool,
    /// How much of a client address is stored.
    pub ip: IpPolicy,
    /// Ingestion rate limits.
    pub ingest_rates: RateLimits,
    /// Traits and properties masked for viewers.
    pub pii_keys: PiiKeys,
    /// Delete data older than this many days (off when `None`).
    pub retention_days: Option<u32>,
    /// Write-ahead log size, in KiB, that makes DuckDB checkpoint.
    pub checkpoint_kib: u32,
    /// DuckDB's memory limit, in MiB.
    pub duckdb_memory_mib: u32,
    /// OTLP/HTTP collector for traces (none: no traces).
    pub otlp_endpoint: Option<String>,
    pub demo: Option<DemoSettings>,
}

/// Demo traffic settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSettings {
    pub rate: f64,
    pub seed: Option<u64>,
}

/// The layers above defaults and file: flags and environment, as clap parsed them.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub db: Option<PathBuf>,
    pub addr: Option<String>,
    pub site_root: Option<PathBuf>,
    pub cors_origins: Option<Vec<String>>,
    pub demo: Option<bool>,
    pub demo_rate: Option<f64>,
    pub demo_seed: Option<u64>,
    pub session_gap_minutes: Option<i64>,
    pub secure_cookies: Option<bool>,
    pub public_host: Option<String>,
    pub allow_private_webhooks: Option<bool>,
    pub ip: Option<String>,
    pub ingest_rate_per_key: Option<u32>,
    pub ingest_rate_per_address: Option<u32>,
    pub pii_keys: Option<Vec<String>>,
    pub retention_days: Option<u32>,
    pub checkpoint_kib: Option<u32>,
    pub duckdb_memory_mib: Option<u32>,
    pub otlp_endpoint: Option<String>,
}

impl ServeSettings {
    /// Resolves defaults, then the file, then the overrides.
    pub fn resolve(file: FileConfig, overrides: Overrides) -> Result<Self, ConfigError> {
        let addr_text = overrides.addr.or(file.addr).unwrap_or_else(|| DEFAULT_ADDR.to_string());
        let addr = addr_text.parse().map_err(|_| ConfigError::Addr { value: addr_text.clone() })?;
        let demo_enabled = overrides.demo.or(file.demo.enabled).unwrap_or(false);
        let session_gap_minutes =
            overrides.session_gap_minutes.or(file.session_gap_minutes).unwrap_or(DEFAULT_SESSION_GAP_MINUTES);
        if !(1..=1440).contains(&session_gap_minutes) {
            return Err(ConfigError::SessionGap { value: session_gap_minutes });
        }
        let ip = match overrides.ip.or(file.ip) {
            Some(value) => IpPolicy::parse(&value).ok_or(ConfigError::IpPolicy { value })?,
            None => IpPolicy::default(),
        };
        let retention_days = overrides.retention_days.or(file.retention_days);
        if let Some(value) = retention_days.filter(|d| !(1..=crate::retention::MAX_RETENTION_DAYS).contains(d)) {
            return Err(ConfigError::Retention { value });
        }
        let checkpoint_kib = overrides.checkpoint_kib.or(file.checkpoint_kib).unwrap_or(DEFAULT_CHECKPOINT_KIB);
        if !CHECKPOINT_KIB_RANGE.contains(&checkpoint_kib) {
            return Err(ConfigError::CheckpointKib { value: checkpoint_kib });
        }
        let duckdb_memory_mib =
            overrides.duckdb_memory_mib.or(file.duckdb_memory_mib).unwrap_or(DEFAULT_DUCKDB_MEMORY_MIB);
        if !DUCKDB_MEMORY_MIB_RANGE.contains(&duckdb_memory_mib) {
            return Err(ConfigError::DuckdbMemory { value: duckdb_memory_mib });
        }
        let default_rates = RateLimits::default();
        let ingest_rates = RateLimits {
            per_source: overrides.ingest_rate_per_key.or(file.ingest_rate_per_key).unwrap_or(default_rates.per_source),
            per_address: overrides
                .ingest_rate_per_address
                .or(file.ingest_rate_per_address)
                .unwrap_or(default_rates.per_address),
        };
        Ok(ServeSettings {
            db: overrides.db.or(file.db).unwrap_or_else(|| DEFAULT_DB.into()),
            addr,
            site_root: overrides.site_root.or(file.site_root).unwrap_or_else(|| DEFAULT_SITE_ROOT.into()),
            cors_origins: overrides.cors_origins.or(file.cors_origins).unwrap_or_else(|| vec!["*".to_string()]),
            session_gap_minutes,
            secure_cookies: overrides.secure_cookies.or(file.secure_cookies).unwrap_or(false),
            public_host: overrides.public_host.or(file.public_host),
            allow_private_webhooks: overrides.allow_private_webhooks.or(file.allow_private_webhooks).unwrap_or(false),
            ip,
            ingest_rates,
            pii_keys: overrides.pii_keys.or(file.pii_keys).map(PiiKeys::new).unwrap_or_default(),
            retention_days,
            checkpoint_kib,
            duckdb_memory_mib,
            otlp_endpoint: overrides.otlp_endpoint.or(file.otlp_endpoint),
            demo: demo_enabled.then(|| DemoSettings {
                rate: overrides.demo_rate.or(file.demo.rate).unwrap_or(DEFAULT_DEMO_RATE),
                seed: overrides.demo_seed.or(file.demo.seed),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = ServeSettings::resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(s.db, PathBuf::from(DEFAULT_DB));
        assert_eq!(s.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(s.demo, None);
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: FileConfig =
            toml::from_str("db = \"/from/file.duckdb\"\naddr = \"0.0.0.0:8080\"\n[demo]\nenabled = true\nrate = 3.0\n")
                .unwrap();
        let overrides = Overrides { db: Some("/from/flag.duckdb".into()), demo_seed: Some(7), ..Default::default() };
        let s = ServeSettings::resolve(file, overrides).unwrap();
        assert_eq!(s.db, PathBuf::from("/from/flag.duckdb"));
        assert_eq!(s.addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.demo, Some(DemoSettings { rate: 3.0, seed: Some(7) }));
    }

    #[test]
    fn a_bad_address_names_the_expected_form() {
        let overrides = Overrides { addr: Some("localhost".into()), ..Default::default() };
        let error = ServeSettings::resolve(FileConfig::default(), overrides).unwrap_err();
        assert!(error.to_string().contains("host:port"), "{error}");
    }

    #[test]
    fn the_session_gap_comes_from_the_file_and_must_be_sensible() {
        let file: FileConfig = toml::from_str("session_gap_minutes = 45").unwrap();
        assert_eq!(ServeSettings::resolve(file, Overrides::default()).unwrap().session_gap_minutes, 45);
        let defaults = ServeSettings::resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(defaults.session_gap_minutes, 30);
        let zero = Overrides { session_gap_minutes: Some(0), ..Default::default() };
        let error = ServeSettings::resolve(FileConfig::default(), zero).unwrap_err();
        assert!(error.to_string().contains("1 to 1440"), "{error}");
    }

    #[test]
    fn the_address_policy_and_rate_limits_have_safe_defaults_and_can_be_set() {
        let defaults = ServeSettings::resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!((defaults.ip, defaults.ingest_rates), (IpPolicy::Truncated, RateLimits::default()));
        let file: FileConfig = toml::from_str("ip = \"none\"\ningest_rate_per_key = 0").unwrap();
        let set =
            ServeSettings::resolve(file, Overrides { ingest_rate_per_address: Some(5), ..Default::default() }).unwrap();
        assert_eq!(set.ip, IpPolicy::None);
        assert_eq!(set.ingest_rates, RateLimits { per_source: 0, per_address: 5 });
        assert_eq!(defaults.pii_keys, PiiKeys::default());
        assert_eq!(defaults.checkpoint_kib, DEFAULT_CHECKPOINT_KIB);
        let file: FileConfig = toml::from_str("pii_keys = [\"email\", \"iban\"]").unwrap();
        let keys = ServeSettings::resolve(file, Overrides::default()).unwrap().pii_keys;
        assert!(keys.contains("iban") && !keys.contains("phone"));
        let bad = Overrides { ip: Some("half".into()), ..Default::default() };
        let error = ServeSettings::resolve(FileConfig::default(), bad).unwrap_err();
        assert!(error.to_string().contains("truncated"), "{error}");
    }

    #[test]
    fn the_checkpoint_size_comes_from_the_file_or_a_flag_within_its_range() {
        let file: FileConfig = toml::from_str("checkpoint_kib = 1024").unwrap();
        assert_eq!(ServeSettings::resolve(file, Overrides::default()).unwrap().checkpoint_kib, 1024);
        let flag = Overrides { checkpoint_kib: Some(256), ..Default::default() };
        assert_eq!(ServeSettings::resolve(FileConfig::default(), flag).unwrap().checkpoint_kib, 256);
        let tiny = Overrides { checkpoint_kib: Some(8), ..Default::default() };
        let error = ServeSettings::resolve(FileConfig::default(), tiny).unwrap_err();
        assert!(error.to_string().contains("use 64 to 4194304"), "{error}");
    }

    #[test]
    fn duckdbs_memory_limit_has_a_default_and_comes_from_the_file_or_a_flag_within_its_range() {
        let defaults = ServeSettings::resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(defaults.duckdb_memory_mib, 2048);
        let file: FileConfig = toml::from_str("duckdb_memory_mib = 8192").unwrap();
        let flag = Overrides { duckdb_memory_mib: Some(512), ..Default::default() };
        assert_eq!(ServeSettings::resolve(file, flag).unwrap().duckdb_memory_mib, 512, "the flag wins over the file");
        let tiny = Overrides { duckdb_memory_mib: Some(16), ..Default::default() };
        let error = ServeSettings::resolve(FileConfig::default(), tiny).unwrap_err();
        assert!(error.to_string().contains("duckdb_memory_mib = 16 is out of range; use 128 to"), "{error}");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("dbpath = \"x\"").is_err());
    }
}
