//! Prometheus 2.42's server flags that promlite accepts without acting on them.
//!
//! A command line written for Prometheus — by hand, by a systemd unit, or by the
//! Prometheus Operator, which always passes `--web.console.templates` and
//! `--web.console.libraries` — starts promlite unchanged. Each of these flags is
//! parsed as Prometheus parses it (a duration must be a duration), shown with its
//! value or Prometheus's default by `/api/v1/status/flags`, and, when given, named in a
//! warning at start, since it changes nothing here. A boolean flag also takes
//! kingpin's negation, `--no-<flag>`.

use std::collections::BTreeMap;
use std::str::FromStr;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use promlite_discovery::PromDuration;
use promlite_scrape::ByteSize;

/// How a flag's value is checked.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A Prometheus duration (`5m`, `1h30m`).
    Duration,
    /// A whole number.
    Int,
    /// A size with a unit (`128MB`).
    Bytes,
    /// Any text (a path, a title).
    Text,
    /// A boolean flag: given or not, or negated with `--no-`.
    Bool,
}

/// One accepted flag: its name without the dashes, Prometheus's default as
/// `/api/v1/status/flags` shows it, and its kind.
struct Flag {
    name: &'static str,
    /// A boolean flag's negation (`no-` and the name); empty for the others.
    no: &'static str,
    default: &'static str,
    kind: Kind,
    help: &'static str,
}

const fn flag(name: &'static str, default: &'static str, kind: Kind, help: &'static str) -> Flag {
    Flag {
        name,
        no: "",
        default,
        kind,
        help,
    }
}

/// A boolean flag and its negation.
const fn switch(
    name: &'static str,
    no: &'static str,
    default: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        name,
        no,
        default,
        kind: Kind::Bool,
        help,
    }
}

/// The flags, in Prometheus 2.42's order.
const FLAGS: &[Flag] = &[
    flag(
        "web.read-timeout",
        "5m",
        Kind::Duration,
        "Prometheus's read timeout of a request",
    ),
    flag(
        "web.local-assets",
        "/usr/share/prometheus/web/",
        Kind::Text,
        "Prometheus's UI asset directory (promlite's UI is built in)",
    ),
    flag(
        "web.user-assets",
        "",
        Kind::Text,
        "Prometheus's user asset directory",
    ),
    flag(
        "web.console.templates",
        "/etc/prometheus/consoles",
        Kind::Text,
        "Prometheus's console templates (not served by promlite)",
    ),
    flag(
        "web.console.libraries",
        "/etc/prometheus/console_libraries",
        Kind::Text,
        "Prometheus's console template libraries",
    ),
    flag(
        "web.page-title",
        "Prometheus Time Series Collection and Processing Server",
        Kind::Text,
        "Prometheus's UI page title",
    ),
    switch(
        "storage.tsdb.use-lockfile",
        "no-storage.tsdb.use-lockfile",
        "false",
        "Prometheus's lock file switch (promlite always locks its data directory)",
    ),
    flag(
        "storage.tsdb.head-chunks-write-queue-size",
        "0",
        Kind::Int,
        "Prometheus's head chunk write queue",
    ),
    flag(
        "storage.tsdb.max-block-chunk-segment-size",
        "0B",
        Kind::Bytes,
        "Prometheus's chunk segment size",
    ),
    switch(
        "storage.tsdb.allow-overlapping-blocks",
        "no-storage.tsdb.allow-overlapping-blocks",
        "true",
        "Prometheus's deprecated overlapping-blocks switch",
    ),
    flag(
        "storage.agent.path",
        "/var/lib/prometheus/data-agent/",
        Kind::Text,
        "Prometheus's agent mode data directory (no agent mode in promlite)",
    ),
    switch(
        "storage.agent.wal-compression",
        "no-storage.agent.wal-compression",
        "true",
        "Prometheus's agent WAL compression",
    ),
    flag(
        "storage.agent.retention.min-time",
        "0s",
        Kind::Duration,
        "Prometheus's agent retention",
    ),
    flag(
        "storage.agent.retention.max-time",
        "0s",
        Kind::Duration,
        "Prometheus's agent retention",
    ),
    switch(
        "storage.agent.use-lockfile",
        "no-storage.agent.use-lockfile",
        "false",
        "Prometheus's agent lock file switch",
    ),
    flag(
        "storage.agent.wal-segment-size",
        "0B",
        Kind::Bytes,
        "Prometheus's agent WAL segment size",
    ),
    flag(
        "storage.agent.wal-truncate-frequency",
        "0s",
        Kind::Duration,
        "Prometheus's agent WAL truncation interval",
    ),
    flag(
        "storage.remote.flush-deadline",
        "1m",
        Kind::Duration,
        "Prometheus's remote-write flush deadline at shutdown",
    ),
    flag(
        "alertmanager.timeout",
        "",
        Kind::Duration,
        "Prometheus's deprecated Alertmanager timeout",
    ),
    switch(
        "scrape.adjust-timestamps",
        "no-scrape.adjust-timestamps",
        "true",
        "Prometheus's scrape timestamp adjustment",
    ),
    flag(
        "scrape.timestamp-tolerance",
        "2ms",
        Kind::Duration,
        "Prometheus's scrape timestamp tolerance",
    ),
    flag(
        "scrape.discovery-reload-interval",
        "5s",
        Kind::Duration,
        "Prometheus's discovery reload interval",
    ),
];

/// The accepted flags given on the command line, with their values (`true` or `false`
/// for booleans).
#[derive(Debug, Clone, Default)]
pub(crate) struct Accepted {
    given: BTreeMap<&'static str, String>,
}

impl Accepted {
    /// The flags given, in name order, with their values.
    pub(crate) fn given(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.given.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// Every accepted flag with its value: the one given, else Prometheus's default.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        FLAGS.iter().map(|f| {
            let v = self.given.get(f.name).map_or(f.default, String::as_str);
            (f.name, v.to_owned())
        })
    }
}

/// Checks `s` as a value of `kind`, keeping the text as given.
fn check(kind: Kind, s: &str) -> Result<String, String> {
    let ok = match kind {
        Kind::Duration => PromDuration::from_str(s)
            .map(drop)
            .map_err(|e| e.to_string()),
        Kind::Int => s.parse::<i64>().map(drop).map_err(|e| e.to_string()),
        Kind::Bytes => ByteSize::from_str(s).map(drop),
        Kind::Text | Kind::Bool => Ok(()),
    };
    ok.map(|()| s.to_owned())
}

impl Args for Accepted {
    fn augment_args(mut cmd: Command) -> Command {
        for f in FLAGS {
            let help = format!(
                "Accepted for Prometheus command lines and not used: {}.",
                f.help
            );
            if let Kind::Bool = f.kind {
                cmd = cmd
                    .arg(
                        Arg::new(f.name)
                            .long(f.name)
                            .help(help)
                            .action(ArgAction::SetTrue)
                            .overrides_with(f.no),
                    )
                    .arg(
                        Arg::new(f.no)
                            .long(f.no)
                            .hide(true)
                            .action(ArgAction::SetTrue)
                            .overrides_with(f.name),
                    );
            } else {
                let kind = f.kind;
                cmd = cmd.arg(
                    Arg::new(f.name)
                        .long(f.name)
                        .help(help)
                        .value_name("VALUE")
                        .hide_default_value(true)
                        .value_parser(move |s: &str| check(kind, s)),
                );
            }
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for Accepted {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut a = Accepted::default();
        a.update_from_arg_matches(m)?;
        Ok(a)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for f in FLAGS {
            if let Kind::Bool = f.kind {
                if m.get_flag(f.name) {
                    self.given.insert(f.name, "true".to_owned());
                } else if m.get_flag(f.no) {
                    self.given.insert(f.name, "false".to_owned());
                }
            } else if let Some(v) = m.get_one::<String>(f.name) {
                self.given.insert(f.name, v.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        accepted: Accepted,
    }

    fn parse(args: &[&str]) -> Result<Accepted, clap::Error> {
        Cli::try_parse_from(std::iter::once("promlite").chain(args.iter().copied()))
            .map(|c| c.accepted)
    }

    #[test]
    fn values_are_checked_and_kept_as_given() {
        let a = parse(&[
            "--web.console.templates=/etc/prometheus/consoles",
            "--storage.tsdb.head-chunks-write-queue-size",
            "20",
            "--web.page-title=Mine",
            "--storage.tsdb.max-block-chunk-segment-size=128MB",
            "--storage.remote.flush-deadline=1m30s",
        ])
        .unwrap();
        let given: Vec<_> = a.given().collect();
        assert_eq!(
            given,
            [
                ("storage.remote.flush-deadline", "1m30s"),
                ("storage.tsdb.head-chunks-write-queue-size", "20"),
                ("storage.tsdb.max-block-chunk-segment-size", "128MB"),
                ("web.console.templates", "/etc/prometheus/consoles"),
                ("web.page-title", "Mine"),
            ]
        );
        for bad in [
            "--storage.remote.flush-deadline=soon",
            "--storage.tsdb.head-chunks-write-queue-size=many",
            "--storage.tsdb.max-block-chunk-segment-size=big",
        ] {
            let e = parse(&[bad]).expect_err(bad).to_string();
            assert!(e.contains("invalid value"), "{bad}: {e}");
        }
    }

    #[test]
    fn booleans_take_kingpins_negation_and_the_last_one_wins() {
        let given = |args: &[&str]| {
            parse(args)
                .unwrap()
                .given
                .get("storage.agent.wal-compression")
                .cloned()
        };
        assert_eq!(given(&[]), None);
        assert_eq!(
            given(&["--storage.agent.wal-compression"]).as_deref(),
            Some("true")
        );
        assert_eq!(
            given(&["--no-storage.agent.wal-compression"]).as_deref(),
            Some("false")
        );
        assert_eq!(
            given(&[
                "--no-storage.agent.wal-compression",
                "--storage.agent.wal-compression"
            ])
            .as_deref(),
            Some("true")
        );
        // As kingpin, a boolean takes no value.
        assert!(parse(&["--storage.agent.wal-compression=false"]).is_err());
    }

    #[test]
    fn status_flags_show_defaults_for_the_flags_not_given() {
        let a = parse(&["--web.read-timeout=1m"]).unwrap();
        let all: BTreeMap<_, _> = a.all().collect();
        assert_eq!(all["web.read-timeout"], "1m");
        assert_eq!(
            all["web.page-title"],
            "Prometheus Time Series Collection and Processing Server"
        );
        assert_eq!(all["web.console.templates"], "/etc/prometheus/consoles");
        assert_eq!(all.len(), FLAGS.len());
    }

    #[test]
    fn every_flag_is_named_once_and_its_default_parses() {
        let mut seen = std::collections::BTreeSet::new();
        for f in FLAGS {
            assert!(seen.insert(f.name), "{} twice", f.name);
            if let Kind::Bool = f.kind {
                assert_eq!(f.no, format!("no-{}", f.name));
            }
            if !f.default.is_empty() {
                assert!(
                    check(f.kind, f.default).is_ok(),
                    "{}: {}",
                    f.name,
                    f.default
                );
            }
        }
    }
}
