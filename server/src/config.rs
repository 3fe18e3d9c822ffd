//! Settings in layers: built-in defaults, then a TOML file, then `WAYLINE__…` environment
//! variables and command-line flags (clap reads both; a flag wins over its variable).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

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
}

/// A customer's events with no gap over this many minutes are one session, by default.
pub const DEFAULT_SESSION_GAP_MINUTES: i64 = 30;

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
        Ok(ServeSettings {
            db: overrides.db.or(file.db).unwrap_or_else(|| DEFAULT_DB.into()),
            addr,
            site_root: overrides.site_root.or(file.site_root).unwrap_or_else(|| DEFAULT_SITE_ROOT.into()),
            cors_origins: overrides.cors_origins.or(file.cors_origins).unwrap_or_else(|| vec!["*".to_string()]),
            session_gap_minutes,
            secure_cookies: overrides.secure_cookies.or(file.secure_cookies).unwrap_or(false),
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
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("dbpath = \"x\"").is_err());
    }
}
