//! `file_sd_configs`: target groups read from JSON or YAML files, re-read when the files
//! change and every `refresh_interval`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher, event::AccessKind, event::AccessMode};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::mpsc;

use crate::discoverer::BoxFuture;
use crate::group::{Format, indexed_groups, indexed_source, parse_target_groups};
use crate::{Discoverer, Error, PromDuration, TargetGroup, Update};

/// The label naming the file a group came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// The default `refresh_interval` of file SD: five minutes.
pub const DEFAULT_FILE_REFRESH: PromDuration = PromDuration::from_secs(300);

/// Prometheus's check of file SD patterns: a `*` only in the last path element, and a
/// JSON or YAML extension.
static FILE_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$").expect("valid regex")
});

/// One entry of `file_sd_configs`.
///
/// ```
/// use promlite_discovery::FileSdConfig;
///
/// let c: FileSdConfig = serde_norway::from_str("files: [targets/*.json]").unwrap();
/// assert_eq!(c.refresh_interval.to_string(), "5m");
/// let err = serde_norway::from_str::<FileSdConfig>("files: [targets.txt]").unwrap_err();
/// assert!(err.to_string().contains(r#"path name "targets.txt" is not valid for file discovery"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSdConfig {
    /// Files to read; the last path element may hold `*` globs.
    pub files: Vec<String>,
    /// How often to re-read the files even without a change notification.
    pub refresh_interval: PromDuration,
}

impl FileSdConfig {
    /// A configuration with the default refresh interval, validated.
    pub fn new(files: Vec<String>) -> Result<FileSdConfig, Error> {
        let c = FileSdConfig {
            files,
            refresh_interval: DEFAULT_FILE_REFRESH,
        };
        c.validate()?;
        Ok(c)
    }

    /// Prometheus's checks: at least one file, each a JSON or YAML path.
    pub fn validate(&self) -> Result<(), Error> {
        if self.files.is_empty() {
            return Err(Error::NoFiles);
        }
        if let Some(bad) = self.files.iter().find(|f| !FILE_PATTERN.is_match(f)) {
            return Err(Error::InvalidFilePattern(bad.clone()));
        }
        Ok(())
    }

    /// Joins relative paths with `dir`, the directory of the configuration file.
    pub fn set_directory(&mut self, dir: &Path) {
        for f in &mut self.files {
            if Path::new(f.as_str()).is_relative() {
                *f = dir.join(f.as_str()).to_string_lossy().into_owned();
            }
        }
    }
}

impl<'de> Deserialize<'de> for FileSdConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            files: Option<Vec<String>>,
            #[serde(default)]
            refresh_interval: Option<PromDuration>,
        }
        let raw = Raw::deserialize(d)?;
        let c = FileSdConfig {
            files: raw.files.unwrap_or_default(),
            refresh_interval: raw.refresh_interval.unwrap_or(DEFAULT_FILE_REFRESH),
        };
        c.validate().map_err(serde::de::Error::custom)?;
        Ok(c)
    }
}

/// Reads `file_sd_configs` files: Prometheus's file discovery.
///
/// A refresh happens at start, whenever something changes in a directory holding a
/// configured pattern (inotify and its peers, through the `notify` crate), and every
/// `refresh_interval` as a safety net for missed notifications. A file that fails to
/// read or parse is reported as [`Error::File`] and its last good groups stay; a file
/// that disappears, or shrinks to fewer groups, has the missing groups withdrawn.
#[derive(Debug)]
pub struct FileDiscoverer {
    config: FileSdConfig,
}

impl FileDiscoverer {
    /// A discoverer for `config`.
    pub fn new(config: FileSdConfig) -> FileDiscoverer {
        FileDiscoverer { config }
    }
}

impl Discoverer for FileDiscoverer {
    fn run(self: Box<Self>, updates: mpsc::Sender<Update>) -> BoxFuture<()> {
        Box::pin(run_file(self.config, updates))
    }
}

async fn run_file(config: FileSdConfig, updates: mpsc::Sender<Update>) {
    // Notifications only wake the loop; one pending wake-up is enough, since a refresh
    // re-reads everything.
    let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            Ok(ev) => is_relevant(ev.kind),
            Err(_) => true,
        };
        if relevant {
            let _ = wake_tx.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(err = %e, "Error adding file watcher");
            if updates.send(Err(Error::Watch(e))).await.is_err() {
                return;
            }
            None
        }
    };
    let mut state = FileState::default();
    let interval = config
        .refresh_interval
        .as_std()
        .max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Reading files is blocking I/O: it runs on the blocking pool, taking the
        // state there and back.
        let files = config.files.clone();
        let Ok((new_state, out)) = tokio::task::spawn_blocking(move || {
            let mut state = state;
            let out = state.refresh(&files);
            (state, out)
        })
        .await
        else {
            return;
        };
        state = new_state;
        for update in out {
            if let Err(e) = &update {
                tracing::error!(err = %e, "Error reading file");
            }
            if updates.send(update).await.is_err() {
                return;
            }
        }
        if let Some(w) = watcher.as_mut() {
            // Directories may appear after start; re-adding a watch is harmless.
            for dir in watch_dirs(&config.files) {
                if let Err(e) = w.watch(&dir, RecursiveMode::NonRecursive) {
                    tracing::debug!(path = %dir.display(), err = %e, "Error adding file watch");
                }
            }
        }
        tokio::select! {
            _ = ticker.tick() => {}
            Some(()) = wake_rx.recv() => {}
            () = updates.closed() => return,
        }
    }
}

/// Whether a file system event asks for a re-read. Reads (our own included) and
/// attribute changes do not; anything that may change content does.
fn is_relevant(kind: EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Modify(notify::event::ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

/// The directories to watch: each pattern's directory, or `./` for a bare name.
fn watch_dirs(patterns: &[String]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = patterns
        .iter()
        .map(|p| match Path::new(p).parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("./"),
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// What file discovery remembers between refreshes: how many groups each file gave, to
/// withdraw those that disappear.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileState {
    last: HashMap<String, usize>,
}

impl FileState {
    /// Reads every file matching `patterns` and returns the updates: the groups of each
    /// good file, empty groups for sources gone since the last refresh, then one error
    /// per failed file or pattern. Blocking: run it off the async threads.
    pub fn refresh(&mut self, patterns: &[String]) -> Vec<Update> {
        let mut groups = Vec::new();
        let mut errors = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for path in list_files(patterns, &mut errors) {
            match read_file(&path) {
                Ok(g) => {
                    seen.insert(path, g.len());
                    groups.extend(g);
                }
                Err(e) => {
                    // The failed file keeps its groups: nothing is withdrawn below.
                    seen.insert(path.clone(), self.last.get(&path).copied().unwrap_or(0));
                    errors.push(Error::File {
                        path: PathBuf::from(path),
                        source: Box::new(e),
                    });
                }
            }
        }
        groups.extend(withdrawn(&self.last, &seen));
        self.last = seen;
        let mut out = vec![Ok(groups)];
        out.extend(errors.into_iter().map(Err));
        out
    }
}

/// Empty groups for the sources a file no longer has: all of a vanished file's, and
/// the tail of a file that now has fewer groups.
fn withdrawn(last: &HashMap<String, usize>, now: &HashMap<String, usize>) -> Vec<TargetGroup> {
    let mut out = Vec::new();
    let mut files: Vec<_> = last.iter().collect();
    files.sort();
    for (file, &before) in files {
        let after = now.get(file).copied().unwrap_or(0);
        out.extend((after..before).map(|i| TargetGroup::empty(indexed_source(file, i))));
    }
    out
}

/// The files matching `patterns`, in pattern order, each directory's matches sorted.
fn list_files(patterns: &[String], errors: &mut Vec<Error>) -> Vec<String> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        // As Go's filepath.Match: `*` never crosses a `/`, and matches leading dots.
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let mut out = Vec::new();
    for pattern in patterns {
        match glob::glob_with(pattern, options) {
            Ok(paths) => out.extend(
                paths
                    .filter_map(Result::ok)
                    .map(|p| p.to_string_lossy().into_owned()),
            ),
            Err(e) => errors.push(Error::Glob {
                pattern: pattern.clone(),
                message: e.msg.to_owned(),
            }),
        }
    }
    out
}

/// Reads and parses one file.
fn read_file(path: &str) -> Result<Vec<TargetGroup>, Error> {
    let content = std::fs::read(path)?;
    file_groups(path, &content)
}

/// The groups of one SD file, given its name and content: JSON or YAML by extension,
/// sourced `"{path}:{index}"` and labelled `__meta_filepath`.
pub fn file_groups(path: &str, content: &[u8]) -> Result<Vec<TargetGroup>, Error> {
    let ext = Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let format = if ext == "json" {
        Format::Json
    } else {
        Format::Yaml
    };
    let specs = parse_target_groups(content, format)?;
    Ok(indexed_groups(&specs, path, FILEPATH_LABEL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_validation_table() {
        let cases: &[(&str, bool)] = &[
            ("a.json", true),
            ("dir/*.yml", true),
            ("dir/app-*.YAML", true),
            ("/abs/x.yaml", true),
            ("d?r/x.json", true),
            ("*/x.json", false),
            ("x.txt", false),
            ("x.json.bak", false),
            ("dir/*", false),
        ];
        for &(p, ok) in cases {
            let got = FileSdConfig::new(vec![p.to_owned()]);
            assert_eq!(got.is_ok(), ok, "{p}: {got:?}");
        }
        assert_eq!(
            FileSdConfig::new(vec![]).unwrap_err().to_string(),
            "file service discovery config must contain at least one path name"
        );
    }

    #[test]
    fn yaml_config_defaults_and_strictness() {
        let c: FileSdConfig =
            serde_norway::from_str("files: [a.json]\nrefresh_interval: 1m\n").unwrap();
        assert_eq!(c.refresh_interval, PromDuration::from_secs(60));
        assert!(serde_norway::from_str::<FileSdConfig>("files: [a.json]\nbogus: 1\n").is_err());
        assert!(serde_norway::from_str::<FileSdConfig>("refresh_interval: 1m\n").is_err());
    }

    #[test]
    fn file_groups_by_extension() {
        let g = file_groups("sd/a.YML", b"- targets: [x:1]\n").unwrap();
        assert_eq!(g[0].source, "sd/a.YML:0");
        assert_eq!(g[0].labels.get(FILEPATH_LABEL), Some("sd/a.YML"));
        let g = file_groups(
            "sd/a.json",
            br#"[{"targets": ["x:1"], "labels": {"k": "v"}}]"#,
        )
        .unwrap();
        assert_eq!(
            g[0].labels.to_string(),
            r#"{__meta_filepath="sd/a.json", k="v"}"#
        );
        assert!(file_groups("sd/a.json", b"- targets: [x:1]\n").is_err());
    }

    #[test]
    fn withdrawn_sources_table() {
        let last = HashMap::from([("a".to_owned(), 3), ("b".to_owned(), 1)]);
        let now = HashMap::from([("a".to_owned(), 1)]);
        let sources: Vec<String> = withdrawn(&last, &now)
            .into_iter()
            .map(|g| g.source)
            .collect();
        assert_eq!(sources, ["a:1", "a:2", "b:0"]);
    }

    #[test]
    fn event_relevance() {
        use notify::event::{CreateKind, DataChange, MetadataKind, ModifyKind};
        assert!(is_relevant(EventKind::Create(CreateKind::File)));
        assert!(is_relevant(EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        ))));
        assert!(is_relevant(EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(!is_relevant(EventKind::Access(AccessKind::Open(
            AccessMode::Read
        ))));
        assert!(!is_relevant(EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::Permissions
        ))));
    }
}
