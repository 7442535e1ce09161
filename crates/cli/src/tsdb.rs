//! `promlite tsdb …`: data-directory tools with `promtool tsdb`'s commands, flags and
//! output shapes — `list`, `analyze`, `dump` and `create-blocks-from openmetrics`.
//!
//! Output matches promtool 2.42 column for column (tests compare with the real
//! promtool), except where promtool's order is undefined (it sorts ties of Go map
//! iteration arbitrarily; we break ties by name).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use promlite_exposition::{Entry, OpenMetricsParser, write_go_float};
use promlite_model::{LabelsBuilder, Matcher, SortedLabelsBuilder};
use promlite_storage::{Appendable, Queryable, SeriesRef, ValueType};
use promlite_tsdb::block::Block;
use promlite_tsdb::{Db, DbOptions, Head, HeadOptions};

/// `promlite tsdb` subcommands.
#[derive(Subcommand)]
pub(crate) enum TsdbCommand {
    /// List the blocks of a data directory.
    List {
        /// Print times and sizes for people rather than programs.
        #[arg(short = 'r', long)]
        human_readable: bool,
        /// The data directory.
        #[arg(default_value = "data/")]
        db_path: PathBuf,
    },
    /// Analyze churn, label pair cardinality and compaction efficiency of a block.
    Analyze {
        /// How many items to show in each list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// The data directory.
        #[arg(default_value = "data/")]
        db_path: PathBuf,
        /// The block to analyze (default: the newest).
        block_id: Option<String>,
    },
    /// Dump samples from a data directory (blocks and WAL).
    Dump {
        /// Minimum timestamp to dump.
        #[arg(long, default_value_t = i64::MIN, allow_negative_numbers = true)]
        min_time: i64,
        /// Maximum timestamp to dump.
        #[arg(long, default_value_t = i64::MAX, allow_negative_numbers = true)]
        max_time: i64,
        /// Series selector.
        #[arg(long = "match", default_value = "{__name__=~'(?s:.*)'}")]
        selector: String,
        /// The data directory.
        #[arg(default_value = "data/")]
        db_path: PathBuf,
    },
    /// Create blocks from data in another format.
    #[command(subcommand, name = "create-blocks-from")]
    CreateBlocksFrom(CreateFrom),
}

/// Sources for `create-blocks-from`.
#[derive(Subcommand)]
pub(crate) enum CreateFrom {
    /// Import samples from an OpenMetrics file (every sample needs a timestamp).
    Openmetrics {
        /// Print times and sizes for people rather than programs.
        #[arg(short = 'r', long)]
        human_readable: bool,
        /// Do not print the created blocks.
        #[arg(short, long)]
        quiet: bool,
        /// The OpenMetrics file.
        input: PathBuf,
        /// Where to write the blocks.
        #[arg(default_value = "data/")]
        output: PathBuf,
    },
}

pub(crate) fn run(cmd: TsdbCommand) -> ExitCode {
    let result = match cmd {
        TsdbCommand::List {
            human_readable,
            db_path,
        } => list(&db_path, human_readable),
        TsdbCommand::Analyze {
            limit,
            db_path,
            block_id,
        } => analyze(&db_path, block_id.as_deref(), limit),
        TsdbCommand::Dump {
            min_time,
            max_time,
            selector,
            db_path,
        } => dump(&db_path, min_time, max_time, &selector),
        TsdbCommand::CreateBlocksFrom(CreateFrom::Openmetrics {
            human_readable,
            quiet,
            input,
            output,
        }) => create_from_openmetrics(&input, &output, human_readable, quiet),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Blocks of a data directory, oldest first.
fn open_blocks(dir: &Path) -> Result<Vec<Block>> {
    let mut blocks = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("open {}", dir.display()))? {
        let p = e?.path();
        let ulid = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() == 26);
        if ulid && p.join("meta.json").exists() {
            blocks.push(Block::open(&p).with_context(|| format!("open block {}", p.display()))?);
        }
    }
    blocks.sort_by_key(|b| b.meta().min_time);
    Ok(blocks)
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.filter_map(std::result::Result::ok)
            .map(|e| {
                if e.path().is_dir() {
                    dir_size(&e.path())
                } else {
                    e.metadata().map_or(0, |m| m.len())
                }
            })
            .sum()
    })
}

/// Go's `time.Duration.String()` for a whole number of milliseconds.
pub(crate) fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if ms < 1000 {
        let _ = write!(out, "{ms}ms");
        return out;
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        let _ = write!(out, "{h}h{m}m");
    } else if m > 0 {
        let _ = write!(out, "{m}m");
    }
    out.push_str(&s.to_string());
    if frac > 0 {
        let f = format!("{frac:03}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// Go's `units.Base2Bytes` string, as promtool prints block sizes (`5KiB835B`).
fn base2_bytes(mut n: u64) -> String {
    if n == 0 {
        return "0B".into();
    }
    let units = [
        ("EiB", 1u64 << 60),
        ("PiB", 1 << 50),
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ];
    let mut out = String::new();
    for (name, size) in units {
        if n >= size {
            let _ = write!(out, "{}{name}", n / size);
            n %= size;
        }
    }
    out
}

/// A Unix millisecond time as Go's `time.Time.String()` in UTC, to whole seconds.
fn go_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn print_blocks(blocks: &[&Block], human: bool) {
    let mut rows = vec![
        [
            "BLOCK ULID",
            "MIN TIME",
            "MAX TIME",
            "DURATION",
            "NUM SAMPLES",
            "NUM CHUNKS",
            "NUM SERIES",
            "SIZE",
        ]
        .map(str::to_owned),
    ];
    for b in blocks {
        let m = b.meta();
        let size = dir_size(b.dir());
        rows.push([
            m.ulid.clone(),
            if human {
                go_time(m.min_time)
            } else {
                m.min_time.to_string()
            },
            if human {
                go_time(m.max_time)
            } else {
                m.max_time.to_string()
            },
            go_duration(m.max_time - m.min_time),
            m.stats.num_samples.to_string(),
            m.stats.num_chunks.to_string(),
            m.stats.num_series.to_string(),
            if human {
                base2_bytes(size)
            } else {
                size.to_string()
            },
        ]);
    }
    // Go's tabwriter as promtool configures it (minimum width 13, padding 2): each
    // column as wide as its widest cell plus two, at least 13; the last unpadded.
    let widths: Vec<usize> = (0..8)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len() + 2)
                .max()
                .unwrap_or(0)
                .max(13)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (c, cell) in r.iter().enumerate() {
            out.push_str(cell);
            if c < 7 {
                out.push_str(&" ".repeat(widths[c] - cell.len()));
            }
        }
        out.push('\n');
    }
    print!("{out}");
}

fn list(dir: &Path, human: bool) -> Result<()> {
    let blocks = open_blocks(dir)?;
    print_blocks(&blocks.iter().collect::<Vec<_>>(), human);
    Ok(())
}

fn analyze(dir: &Path, id: Option<&str>, limit: usize) -> Result<()> {
    let blocks = open_blocks(dir)?;
    let block = match id {
        Some(id) => blocks
            .iter()
            .find(|b| b.meta().ulid == id)
            .with_context(|| format!("block {id} not found"))?,
        None => blocks.last().context("no blocks found")?,
    };
    let meta = block.meta();
    let range = (meta.max_time - meta.min_time).max(1);
    println!("Block ID: {}", meta.ulid);
    println!("Duration: {}", go_duration(meta.max_time - meta.min_time));
    println!("Series: {}", meta.stats.num_series);
    let ix = block.index();
    let names = ix.label_names();
    println!("Label names: {}", names.len());

    let ids = ix.postings_for_matchers(&[])?;
    let mut lb = SortedLabelsBuilder::new();
    let mut chunks = Vec::new();
    let mut pairs_uncovered: HashMap<String, u64> = HashMap::new();
    let mut names_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_count: HashMap<String, u64> = HashMap::new();
    let mut entries = 0u64;
    for id in ids {
        chunks.clear();
        let labels = ix.series(id, &mut lb, &mut chunks)?;
        let (Some(first), Some(last)) = (chunks.first(), chunks.last()) else {
            continue;
        };
        // The part of the block's range this series does not cover: its churn.
        let uncovered = (range - (last.maxt - first.mint)).max(0) as u64;
        for l in &labels {
            let key = format!("{}={}", l.name, l.value);
            *names_uncovered.entry(l.name.to_owned()).or_default() += uncovered;
            *pairs_uncovered.entry(key.clone()).or_default() += uncovered;
            *pairs_count.entry(key).or_default() += 1;
            entries += 1;
        }
    }
    println!("Postings (unique label pairs): {}", pairs_uncovered.len());
    println!("Postings entries (total label pairs): {entries}");
    let print = |title: &str, items: Vec<(u64, String)>| {
        println!("\n{title}:");
        let mut items = items;
        items.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (n, k) in items.into_iter().take(limit) {
            println!("{n} {k}");
        }
    };
    let churn = |m: HashMap<String, u64>| {
        m.into_iter()
            .map(|(k, v)| ((v as f64 / range as f64) as u64, k))
            .collect()
    };
    print(
        "Label pairs most involved in churning",
        churn(pairs_uncovered),
    );
    print(
        "Label names most involved in churning",
        churn(names_uncovered),
    );
    print(
        "Most common label pairs",
        pairs_count.into_iter().map(|(k, v)| (v, k)).collect(),
    );
    let mut value_lengths = Vec::new();
    let mut cardinality = Vec::new();
    for n in &names {
        let values: Vec<&str> = ix.label_values(n).collect();
        value_lengths.push((values.iter().map(|v| v.len() as u64).sum(), (*n).to_owned()));
        cardinality.push((values.len() as u64, (*n).to_owned()));
    }
    print(
        "Label names with highest cumulative label value length",
        value_lengths,
    );
    print("Highest cardinality labels", cardinality);
    let mut metrics = Vec::new();
    for v in ix.label_values("__name__") {
        let n = ix
            .postings_for_matchers(&[Matcher::equal("__name__", v)])?
            .len() as u64;
        metrics.push((n, v.to_owned()));
    }
    print("Highest cardinality metric names", metrics);
    Ok(())
}

fn dump(dir: &Path, mint: i64, maxt: i64, selector: &str) -> Result<()> {
    let matchers =
        promlite_promql::parse_metric_selector(selector).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = Db::open_read_only(dir, DbOptions::default())?;
    let q = db.querier(mint, maxt)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = String::new();
    for s in q.select(true, None, &matchers) {
        let s = s?;
        let labels = s.labels().to_string();
        let mut it = s.samples();
        loop {
            match it.next() {
                ValueType::None => break,
                ValueType::Float => {
                    let (t, v) = it.at();
                    line.clear();
                    write_go_float(&mut line, v);
                    writeln!(out, "{labels} {line} {t}")?;
                }
                // promtool 2.42 prints native histograms with Go's %v; not reproduced yet.
                ValueType::Histogram | ValueType::FloatHistogram => {
                    let (t, h) = it.at_float_histogram();
                    writeln!(out, "{labels} {h:?} {t}")?;
                }
            }
        }
        if let Some(e) = it.err() {
            bail!("reading {labels}: {e}");
        }
    }
    out.flush()?;
    Ok(())
}

/// A progress line on standard error, only when it is a terminal.
struct Progress {
    on: bool,
    total: u64,
    last: u64,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            on: std::io::stderr().is_terminal(),
            total: total.max(1),
            last: u64::MAX,
        }
    }
    fn update(&mut self, done: u64, what: &str) {
        let pct = done * 100 / self.total;
        if self.on && pct != self.last {
            self.last = pct;
            eprint!("\r{what}: {pct:>3}%");
        }
    }
    fn finish(&self) {
        if self.on {
            eprintln!();
        }
    }
}

/// Backfills an OpenMetrics file into 2h blocks, as `promtool tsdb create-blocks-from
/// openmetrics` does: one pass to find the time range, then one per aligned 2h range.
fn create_from_openmetrics(input: &Path, out: &Path, human: bool, quiet: bool) -> Result<()> {
    const RANGE: i64 = 2 * 3600 * 1000;
    let data = std::fs::read(input).with_context(|| format!("read {}", input.display()))?;
    let text = std::str::from_utf8(&data).map_err(|e| {
        anyhow::anyhow!("{}: not UTF-8 at byte {}", input.display(), e.valid_up_to())
    })?;
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    let mut p = OpenMetricsParser::new(text);
    while let Some(e) = p
        .next()
        .map_err(|e| anyhow::anyhow!("{}:{e}", input.display()))?
    {
        if let Entry::Series(s) = e {
            let t = s.timestamp.ok_or_else(|| {
                anyhow::anyhow!(
                    "getting min and max timestamp: expected timestamp for series got none"
                )
            })?;
            mint = mint.min(t);
            maxt = maxt.max(t);
        }
    }
    if mint > maxt {
        bail!("no samples in {}", input.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let mut created = Vec::new();
    let first = mint.div_euclid(RANGE) * RANGE;
    let mut progress = Progress::new(((maxt - first) / RANGE + 1) as u64);
    let mut lb = LabelsBuilder::new();
    let mut start = first;
    while start <= maxt {
        let head = Head::new(&HeadOptions {
            chunk_range: RANGE,
            ..HeadOptions::default()
        });
        let mut app = head.appender();
        let mut p = OpenMetricsParser::new(text);
        let mut n = 0;
        while let Some(e) = p
            .next()
            .map_err(|e| anyhow::anyhow!("{}:{e}", input.display()))?
        {
            if let Entry::Series(s) = e {
                let t = s.timestamp.unwrap_or(i64::MIN);
                if t < start || t >= start + RANGE {
                    continue;
                }
                app.append(SeriesRef::NONE, &s.to_labels(&mut lb), t, s.value)
                    .map_err(|e| anyhow::anyhow!("block creation: add sample: {e}"))?;
                n += 1;
                if n % 10_000 == 0 {
                    app.commit()?;
                    app = head.appender();
                }
            }
        }
        app.commit()?;
        if let Some((lo, hi)) = head.time_range()
            && let Some(dir) = head.write_block(out, lo, hi + 1)?
        {
            created.push(Block::open(&dir)?);
        }
        start += RANGE;
        progress.update(((start - first) / RANGE) as u64, "creating blocks");
    }
    progress.finish();
    if !quiet {
        print_blocks(&created.iter().collect::<Vec<_>>(), human);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_duration(780_001), "13m0.001s");
        assert_eq!(go_duration(6_390_001), "1h46m30.001s");
        assert_eq!(go_duration(7_200_000), "2h0m0s");
        assert_eq!(go_duration(15_001), "15.001s");
        assert_eq!(go_duration(1), "1ms");
        assert_eq!(go_duration(1_500), "1.5s");
        assert_eq!(base2_bytes(5955), "5KiB835B");
        assert_eq!(base2_bytes(1024), "1KiB");
        assert_eq!(go_time(1_700_000_000_000), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(go_time(1_700_006_390_001), "2023-11-14 23:59:50 +0000 UTC");
    }
}
