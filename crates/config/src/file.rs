//! [`Config`], a whole `prometheus.yml`: decoding, Prometheus's file-wide checks,
//! `scrape_config_files`, relative paths, and errors with positions.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use promlite_model::go_quote;
use promlite_scrape::ScrapeConfig;
use serde::Deserialize;

use crate::position::{find_key, find_key_value, find_text, find_text_from};
use crate::{
    AlertingConfig, Error, GlobalConfig, OtlpConfig, RemoteReadConfig, RemoteWriteConfig,
    RuntimeConfig, StorageConfig, TracingConfig,
};

/// A whole configuration, as Prometheus 3 reads `prometheus.yml`.
///
/// Scrape jobs are complete: settings inherited from `global` are filled in, jobs from
/// `scrape_config_files` are appended after the inline ones, and relative file names
/// are resolved against the directory of the file that named them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// The `global` section.
    pub global: GlobalConfig,
    /// The `runtime` section.
    pub runtime: RuntimeConfig,
    /// Rule file patterns.
    pub rule_files: Vec<String>,
    /// Patterns of files holding more scrape jobs.
    pub scrape_config_files: Vec<String>,
    /// Every scrape job, inline ones first.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// The `alerting` section.
    pub alerting: AlertingConfig,
    /// Remote write endpoints.
    pub remote_write: Vec<RemoteWriteConfig>,
    /// Remote read endpoints.
    pub remote_read: Vec<RemoteReadConfig>,
    /// The `storage` section.
    pub storage: StorageConfig,
    /// The `tracing` section.
    pub tracing: TracingConfig,
    /// The `otlp` section.
    pub otlp: OtlpConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigYaml {
    #[serde(default)]
    global: GlobalConfig,
    #[serde(default)]
    runtime: Option<RuntimeConfig>,
    #[serde(default)]
    rule_files: Option<Vec<String>>,
    #[serde(default)]
    scrape_config_files: Option<Vec<String>>,
    #[serde(default)]
    scrape_configs: Option<Vec<Option<ScrapeConfig>>>,
    #[serde(default)]
    alerting: AlertingConfig,
    #[serde(default)]
    remote_write: Option<Vec<Option<RemoteWriteConfig>>>,
    #[serde(default)]
    remote_read: Option<Vec<Option<RemoteReadConfig>>>,
    #[serde(default)]
    storage: Option<StorageConfig>,
    #[serde(default)]
    tracing: TracingConfig,
    #[serde(default)]
    otlp: OtlpConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrapeConfigsFile {
    #[serde(default)]
    scrape_configs: Option<Vec<Option<ScrapeConfig>>>,
}

/// Prometheus's `patRulePath`: a `*` only in the last path element.
static RULE_PATH: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[^*]*(\*[^/]*)?$").expect("valid regex"));

/// Turns a YAML decoder error into an [`Error`] naming the file, line and column, and,
/// for errors about one key, the key's own position rather than its section's.
fn yaml_error(path: &Path, src: &str, e: &serde_norway::Error) -> Error {
    let mut message = e.to_string();
    let mut position = e.location().map(|l| (l.line(), l.column()));
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    // serde lists every field it expected; the position already shows where to look.
    if let Some(i) = message.find(", expected one of ") {
        message.truncate(i);
    }
    let key = ["field ", "promlite does not support ", "unknown field `"]
        .iter()
        .find_map(|p| message.split_once(p).map(|(_, rest)| rest))
        .and_then(|rest| rest.split([' ', '`', ',']).next())
        .map(str::to_owned);
    if let (Some(key), Some((line, _))) = (&key, position)
        && let Some(p) = find_key(src, line, key)
    {
        position = Some(p);
    } else if let Some((line, _)) = position
        && let Some(value) = message.rsplit('"').nth(1).filter(|v| !v.is_empty())
        && let Some(p) = find_text_from(src, line, value)
    {
        // A rejected value quoted in the message (`"5x"`): point at the value itself.
        position = Some(p);
    }
    Error::Invalid {
        path: path.to_owned(),
        position,
        message,
    }
}

fn invalid(path: &Path, position: Option<(usize, usize)>, message: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.to_owned(),
        position,
        message: message.into(),
    }
}

fn join_dir(dir: &Path, p: &mut String) {
    if !p.is_empty() && Path::new(p.as_str()).is_relative() {
        *p = dir.join(p.as_str()).to_string_lossy().into_owned();
    }
}

impl Config {
    /// Loads `path`, with its `scrape_config_files`.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, Error> {
        let path = path.as_ref();
        let src = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Config::from_yaml(&src, path)
    }

    /// Decodes `src`, the content of `path`; relative names are resolved against
    /// `path`'s directory and `scrape_config_files` are read from there.
    pub fn from_yaml(src: &str, path: &Path) -> Result<Config, Error> {
        let dir = path.parent().unwrap_or(Path::new("."));
        check_binary_tags(src).map_err(|(pos, m)| invalid(path, Some(pos), m))?;
        // An empty document is the default configuration, as in Prometheus.
        let y: ConfigYaml = if src.trim().is_empty() {
            serde_norway::from_str("{}")
        } else {
            serde_norway::from_str(src)
        }
        .map_err(|e| yaml_error(path, src, &e))?;

        let rule_files = y.rule_files.unwrap_or_default();
        for rf in &rule_files {
            if !RULE_PATH.is_match(rf) {
                return Err(invalid(
                    path,
                    find_text(src, rf),
                    format!("invalid rule file path {}", go_quote(rf)),
                ));
            }
        }
        let scrape_config_files = y.scrape_config_files.unwrap_or_default();
        for sf in &scrape_config_files {
            if !RULE_PATH.is_match(sf) {
                return Err(invalid(
                    path,
                    find_text(src, sf),
                    format!("invalid scrape config file path {}", go_quote(sf)),
                ));
            }
        }

        let global = y.global;
        let mut jobs = HashSet::new();
        let mut scrape_configs = Vec::new();
        let inline = y.scrape_configs.unwrap_or_default();
        resolve_scrape_configs(
            inline,
            &global,
            path,
            src,
            dir,
            &mut jobs,
            &mut scrape_configs,
        )?;

        for pattern in &scrape_config_files {
            let mut full = pattern.clone();
            join_dir(dir, &mut full);
            let mut matches: Vec<PathBuf> = glob::glob(&full)
                .map_err(|e| {
                    invalid(
                        path,
                        find_text(src, pattern),
                        format!("invalid scrape config file path {}: {e}", go_quote(pattern)),
                    )
                })?
                .filter_map(Result::ok)
                .collect();
            matches.sort();
            for file in matches {
                let fsrc = std::fs::read_to_string(&file).map_err(|source| Error::Io {
                    path: file.clone(),
                    source,
                })?;
                let parsed: ScrapeConfigsFile = if fsrc.trim().is_empty() {
                    ScrapeConfigsFile {
                        scrape_configs: None,
                    }
                } else {
                    serde_norway::from_str(&fsrc).map_err(|e| yaml_error(&file, &fsrc, &e))?
                };
                let fdir = file.parent().unwrap_or(Path::new("."));
                resolve_scrape_configs(
                    parsed.scrape_configs.unwrap_or_default(),
                    &global,
                    &file,
                    &fsrc,
                    fdir,
                    &mut jobs,
                    &mut scrape_configs,
                )?;
            }
        }

        let mut remote_write = Vec::new();
        let mut names = HashSet::new();
        for rw in y.remote_write.unwrap_or_default() {
            let rw = rw.ok_or_else(|| {
                invalid(
                    path,
                    find_key(src, 1, "remote_write"),
                    "empty or null remote write config section",
                )
            })?;
            if !rw.name.is_empty() && !names.insert(rw.name.clone()) {
                return Err(invalid(
                    path,
                    find_key_value(src, "name", &rw.name, 1),
                    format!(
                        "found multiple remote write configs with job name {}",
                        go_quote(&rw.name)
                    ),
                ));
            }
            remote_write.push(rw);
        }
        let mut remote_read = Vec::new();
        let mut names = HashSet::new();
        for rr in y.remote_read.unwrap_or_default() {
            let rr = rr.ok_or_else(|| {
                invalid(
                    path,
                    find_key(src, 1, "remote_read"),
                    "empty or null remote read config section",
                )
            })?;
            if !rr.name.is_empty() && !names.insert(rr.name.clone()) {
                return Err(invalid(
                    path,
                    find_key_value(src, "name", &rr.name, 1),
                    format!(
                        "found multiple remote read configs with job name {}",
                        go_quote(&rr.name)
                    ),
                ));
            }
            remote_read.push(rr);
        }

        let mut c = Config {
            global,
            runtime: y.runtime.unwrap_or_default(),
            rule_files,
            scrape_config_files,
            scrape_configs,
            alerting: y.alerting,
            remote_write,
            remote_read,
            storage: y.storage.unwrap_or_default(),
            tracing: y.tracing,
            otlp: y.otlp,
        };
        c.set_directory(dir);
        Ok(c)
    }

    /// Prometheus's `Config.SetDirectory` for the sections this crate owns (scrape jobs
    /// are resolved as they are read, each against its own file's directory).
    fn set_directory(&mut self, dir: &Path) {
        for f in &mut self.rule_files {
            join_dir(dir, f);
        }
        for f in &mut self.scrape_config_files {
            join_dir(dir, f);
        }
        join_dir(dir, &mut self.global.query_log_file);
        join_dir(dir, &mut self.global.scrape_failure_log_file);
        for am in &mut self.alerting.alertmanagers {
            am.http_client_config.set_directory(dir);
            am.service_discovery_configs.set_directory(dir);
        }
        for rw in &mut self.remote_write {
            rw.http_client_config.set_directory(dir);
        }
        for rr in &mut self.remote_read {
            rr.http_client_config.set_directory(dir);
        }
    }

    /// The jobs' service discovery configurations, as the discovery manager takes them.
    pub fn discovery_configs(
        &self,
    ) -> std::collections::HashMap<String, Vec<promlite_discovery::SdConfig>> {
        self.scrape_configs
            .iter()
            .map(|c| {
                (
                    c.job_name.clone(),
                    c.service_discovery_configs.to_sd_configs(),
                )
            })
            .collect()
    }
}

/// Checks and completes the scrape jobs of one file, in order.
fn resolve_scrape_configs(
    list: Vec<Option<ScrapeConfig>>,
    global: &GlobalConfig,
    path: &Path,
    src: &str,
    dir: &Path,
    jobs: &mut HashSet<String>,
    out: &mut Vec<ScrapeConfig>,
) -> Result<(), Error> {
    for sc in list {
        let mut sc = sc.ok_or_else(|| {
            invalid(
                path,
                find_key(src, 1, "scrape_configs"),
                "empty or null scrape config section",
            )
        })?;
        let at = find_key_value(src, "job_name", &sc.job_name, 0);
        if let Err(e) = sc.apply_defaults(&global.scrape_defaults) {
            let pos = at
                .and_then(|(l, _)| find_key(src, l, "scrape_timeout").or(Some((l, 0))))
                .map(|(l, c)| (l, c.max(1)));
            return Err(invalid(path, pos, e.to_string()));
        }
        if !jobs.insert(sc.job_name.clone()) {
            // The second job of the name is the offending one when it is in this file.
            let pos = find_key_value(src, "job_name", &sc.job_name, 1).or(at);
            return Err(invalid(
                path,
                pos,
                format!(
                    "found multiple scrape configs with job name {}",
                    go_quote(&sc.job_name)
                ),
            ));
        }
        sc.set_directory(dir);
        out.push(sc);
    }
    Ok(())
}

/// Go's YAML decoder turns `!!binary` scalars into their decoded bytes; serde's YAML
/// reader leaves them as the base64 text, which would load `!!binary "/w=="` as the
/// label name `/w==` where Prometheus sees the invalid name `"\xff"`. Every string of a
/// configuration is text, so such values are checked here: bad base64 is Go's error,
/// anything else is refused by name rather than loaded with a different meaning.
fn check_binary_tags(src: &str) -> Result<(), ((usize, usize), String)> {
    for (i, line) in src.lines().enumerate() {
        let Some(at) = line.find("!!binary") else {
            continue;
        };
        let pos = (i + 1, at + 1);
        let value = line[at + "!!binary".len()..]
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        let Some(bytes) = decode_base64(value) else {
            return Err((
                pos,
                "yaml: !!binary value contains invalid base64 data".into(),
            ));
        };
        return Err(match String::from_utf8(bytes) {
            Err(e) => (
                pos,
                format!(
                    "{} is not valid UTF-8",
                    go_quote(&String::from_utf8_lossy(e.as_bytes()))
                ),
            ),
            Ok(_) => (pos, "promlite does not support !!binary values".into()),
        });
    }
    Ok(())
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}
