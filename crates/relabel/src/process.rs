//! Running a chain of rules: [`relabel`] and [`trace`].
//!
//! The working state mirrors Prometheus's `labels.Builder` rather than editing a sorted
//! set in place, because one action can see the difference: `labelmap` visits labels in
//! the builder's order (untouched input labels in name order, then labels written by
//! earlier rules in the order they were first written), and when two names map to the
//! same target the last one visited wins. Reproducing that order is what makes a chain
//! produce Prometheus's labels in every case, not just the common ones.
//!
//! All strings the state writes go into one append-only arena, so spans stay valid while
//! a rule reads and writes at once, and the buffers live in a thread-local scratch that
//! is reused by every call on the thread: after warm-up a chain allocates only the
//! [`Labels`] it returns, and not even that when no rule changed anything.

use std::cell::RefCell;
use std::fmt::Write as _;

use md5::{Digest, Md5};
use promlite_model::{Labels, LabelsBuilder, is_valid_label_name};
use regex::CaptureLocations;

use crate::case::{push_lower, push_upper};
use crate::expand::{Groups, expand};
use crate::{Action, Regex, RelabelConfig};

/// A half-open byte range into the arena.
type Span = (usize, usize);

/// Prometheus's `labels.Builder`: the input (`base`) plus labels written (`add`, in the
/// order first written) and names deleted (`del`). A name can be in both `add` and `del`
/// (written after being deleted); `add` wins, as in Go.
#[derive(Default)]
struct State {
    arena: String,
    add: Vec<(Span, Span)>,
    del: Vec<Span>,
}

impl State {
    fn clear(&mut self) {
        self.arena.clear();
        self.add.clear();
        self.del.clear();
    }

    fn s(&self, sp: Span) -> &str {
        &self.arena[sp.0..sp.1]
    }

    fn intern(&mut self, s: &str) -> Span {
        let start = self.arena.len();
        self.arena.push_str(s);
        (start, self.arena.len())
    }

    fn find_add(&self, name: &str) -> Option<usize> {
        self.add.iter().position(|&(n, _)| self.s(n) == name)
    }

    fn is_deleted(&self, name: &str) -> bool {
        self.del.iter().any(|&n| self.s(n) == name)
    }

    fn get<'a>(&'a self, base: &'a Labels, name: &str) -> &'a str {
        if let Some(i) = self.find_add(name) {
            return self.s(self.add[i].1);
        }
        if self.is_deleted(name) {
            return "";
        }
        base.get(name).unwrap_or("")
    }

    /// Sets `name` to the arena span `value`; an empty value deletes, as in Prometheus.
    fn set_span(&mut self, name: &str, value: Span) {
        if value.0 == value.1 {
            self.del(name);
        } else if let Some(i) = self.find_add(name) {
            self.add[i].1 = value;
        } else {
            let n = self.intern(name);
            self.add.push((n, value));
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        let v = self.intern(value);
        self.set_span(name, v);
    }

    fn del(&mut self, name: &str) {
        if let Some(i) = self.find_add(name) {
            self.add.remove(i);
        }
        if !self.is_deleted(name) {
            let n = self.intern(name);
            self.del.push(n);
        }
    }

    fn is_unchanged(&self) -> bool {
        self.add.is_empty() && self.del.is_empty()
    }

    /// The current label set, built with `builder`.
    fn build(&self, base: &Labels, builder: &mut LabelsBuilder) -> Labels {
        if self.is_unchanged() {
            return base.clone();
        }
        builder.reset(base);
        for &n in &self.del {
            builder.del(self.s(n));
        }
        for &(n, v) in &self.add {
            builder.set(self.s(n), self.s(v));
        }
        builder.build()
    }
}

/// Per-thread buffers reused across calls.
#[derive(Default)]
struct Scratch {
    state: State,
    /// The joined source values.
    val: String,
    /// The expanded target label, or a label name copied out of the arena.
    target: String,
    /// The expanded or computed value.
    res: String,
    /// `add` and `del` as they were when a label-visiting action started.
    snap_add: Vec<(Span, Span)>,
    snap_del: Vec<Span>,
    /// Capture buffers, one per regex identity (a buffer only fits its own regex).
    caps: Vec<(u64, CaptureLocations)>,
}

/// Beyond this many regexes with captures per thread, the buffers are dropped and
/// regrown rather than searched.
const MAX_CAPTURE_BUFFERS: usize = 256;

/// The capture buffer for `re`, created on first use.
fn caps_for<'c>(
    caps: &'c mut Vec<(u64, CaptureLocations)>,
    re: &Regex,
) -> &'c mut CaptureLocations {
    let i = if let Some(i) = caps.iter().position(|(id, _)| *id == re.id()) {
        i
    } else {
        if caps.len() >= MAX_CAPTURE_BUFFERS {
            caps.clear();
        }
        caps.push((re.id(), re.inner().capture_locations()));
        caps.len() - 1
    };
    &mut caps[i].1
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Matches `re` against all of `src` and returns its groups, or `None` when it does not
/// match.
fn captures<'a>(
    re: &'a Regex,
    src: &str,
    caps: &'a mut Vec<(u64, CaptureLocations)>,
) -> Option<Groups<'a>> {
    if re.is_whole() {
        return Some(Groups::Whole(src.len()));
    }
    let locs = caps_for(caps, re);
    re.inner().captures_read(locs, src)?;
    Some(Groups::Located {
        locs,
        re: re.inner(),
    })
}

/// A visited label's value: borrowed from the input, or already in the arena.
#[derive(Clone, Copy)]
enum Value<'a> {
    Base(&'a str),
    Arena(Span),
}

/// Applies one rule; false means the label set is dropped.
fn apply(cfg: &RelabelConfig, base: &Labels, sc: &mut Scratch) -> bool {
    let Scratch {
        state,
        val,
        target,
        res,
        snap_add,
        snap_del,
        caps,
    } = sc;
    let action = cfg.action();
    if matches!(
        action,
        Action::LabelMap | Action::LabelDrop | Action::LabelKeep
    ) {
        // These visit every label present when the action starts, in Prometheus's order:
        // input labels neither deleted nor written so far, in name order, then written
        // labels in the order first written. The snapshot keeps the action's own writes
        // out of the visit.
        snap_add.clear();
        snap_add.extend_from_slice(&state.add);
        snap_del.clear();
        snap_del.extend_from_slice(&state.del);
        for l in base {
            let shadowed = snap_del.iter().any(|&n| state.s(n) == l.name)
                || snap_add.iter().any(|&(n, _)| state.s(n) == l.name);
            if !shadowed {
                visit(cfg, l.name, Value::Base(l.value), state, res, caps);
            }
        }
        for &(n, v) in snap_add.iter() {
            // The name is copied out of the arena, which the visit may grow.
            target.clear();
            target.push_str(state.s(n));
            visit(cfg, target, Value::Arena(v), state, res, caps);
        }
        return true;
    }

    val.clear();
    for (i, name) in cfg.source_labels().iter().enumerate() {
        if i > 0 {
            val.push_str(cfg.separator());
        }
        val.push_str(state.get(base, name));
    }
    let val = val.as_str();
    match action {
        Action::Drop => !cfg.regex().is_match(val),
        Action::Keep => cfg.regex().is_match(val),
        Action::DropEqual => state.get(base, cfg.target_label()) != val,
        Action::KeepEqual => state.get(base, cfg.target_label()) == val,
        Action::Replace => {
            let Some(groups) = captures(cfg.regex(), val, caps) else {
                return true;
            };
            let name = if cfg.target_has_ref() {
                target.clear();
                expand(cfg.target_label(), val, &groups, target);
                target.as_str()
            } else {
                cfg.target_label()
            };
            // Prometheus skips the write, silently, when the expanded name is not valid.
            if !is_valid_label_name(name, cfg.validation_scheme()) {
                return true;
            }
            if cfg.replacement_has_ref() {
                res.clear();
                expand(cfg.replacement(), val, &groups, res);
                state.set(name, res);
            } else {
                state.set(name, cfg.replacement());
            }
            true
        }
        Action::Lowercase | Action::Uppercase => {
            res.clear();
            if action == Action::Lowercase {
                push_lower(res, val);
            } else {
                push_upper(res, val);
            }
            state.set(cfg.target_label(), res);
            true
        }
        Action::HashMod => {
            let sum = Md5::digest(val.as_bytes());
            // Prometheus uses the last 8 bytes, big-endian, to keep the buckets of its
            // earliest versions.
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&sum[8..16]);
            let bucket = u64::from_be_bytes(tail) % cfg.modulus();
            res.clear();
            // Writing into a String cannot fail.
            let _ = write!(res, "{bucket}");
            state.set(cfg.target_label(), res);
            true
        }
        Action::LabelMap | Action::LabelDrop | Action::LabelKeep => unreachable!("handled above"),
    }
}

/// One label visited by `labelmap`, `labeldrop` or `labelkeep`.
fn visit(
    cfg: &RelabelConfig,
    name: &str,
    value: Value<'_>,
    state: &mut State,
    res: &mut String,
    caps: &mut Vec<(u64, CaptureLocations)>,
) {
    let re = cfg.regex();
    match cfg.action() {
        Action::LabelDrop => {
            if re.is_match(name) {
                state.del(name);
            }
        }
        Action::LabelKeep => {
            if !re.is_match(name) {
                state.del(name);
            }
        }
        _ => {
            if !re.is_match(name) {
                return;
            }
            let Some(groups) = captures(re, name, caps) else {
                return;
            };
            // Prometheus writes the mapped name without checking it.
            res.clear();
            expand(cfg.replacement(), name, &groups, res);
            let v = match value {
                Value::Base(s) => state.intern(s),
                Value::Arena(sp) => sp,
            };
            state.set_span(res, v);
        }
    }
}

/// Applies `configs` in order to `labels` and returns the result, or `None` when a rule
/// dropped the set.
///
/// This is Prometheus's `relabel.ProcessBuilder`. `builder` is only used to build the
/// returned [`Labels`]; pass the same one on every call so its buffers are reused.
/// Together with the per-thread scratch space, a call allocates nothing but the returned
/// set once warm, and returns a clone of `labels` (a reference count increment) when no
/// rule changed anything.
///
/// ```
/// use promlite_model::{Labels, LabelsBuilder};
/// use promlite_relabel::{Action, RelabelConfigSpec, relabel};
/// use promlite_model::ValidationScheme;
///
/// let keep_api = RelabelConfigSpec {
///     source_labels: Some(vec!["job".into()]),
///     regex: Some("api|web".parse().unwrap()),
///     ..RelabelConfigSpec::new(Action::Keep)
/// }
/// .build(ValidationScheme::Utf8)
/// .unwrap();
/// let mut b = LabelsBuilder::new();
/// let api = Labels::from_pairs([("job", "api")]);
/// assert_eq!(relabel(&api, &[keep_api.clone()], &mut b), Some(api));
/// let db = Labels::from_pairs([("job", "db")]);
/// assert_eq!(relabel(&db, &[keep_api], &mut b), None);
/// ```
pub fn relabel(
    labels: &Labels,
    configs: &[RelabelConfig],
    builder: &mut LabelsBuilder,
) -> Option<Labels> {
    SCRATCH.with_borrow_mut(|sc| {
        sc.state.clear();
        for cfg in configs {
            if !apply(cfg, labels, sc) {
                return None;
            }
        }
        Some(sc.state.build(labels, builder))
    })
}

/// One rule's effect, as recorded by [`trace`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceStep {
    /// The rule's position in the chain.
    pub index: usize,
    /// The rule's action.
    pub action: Action,
    /// The labels the rule saw.
    pub input: Labels,
    /// The labels it passed on, or `None` when it dropped the set.
    pub output: Option<Labels>,
}

impl TraceStep {
    /// Whether the rule dropped the label set.
    pub fn dropped(&self) -> bool {
        self.output.is_none()
    }

    /// Whether the rule changed the labels (a drop counts as a change).
    pub fn changed(&self) -> bool {
        self.output.as_ref() != Some(&self.input)
    }
}

/// Applies `configs` like [`relabel`] and records every step: what each rule saw and what
/// it passed on. The trace ends at the rule that dropped the set, if one did; the rules
/// after it never ran. The last step's output is what [`relabel`] returns.
///
/// This answers "why is my target missing?": the dropping step names the rule, and the
/// steps before it show how the labels it judged came to be. The state carries over from
/// step to step exactly as in [`relabel`] (not rebuilt from each step's output), so the
/// trace never disagrees with the real run.
///
/// ```
/// use promlite_model::{Labels, ValidationScheme};
/// use promlite_relabel::{Action, RelabelConfigSpec, trace};
///
/// let rules = [
///     RelabelConfigSpec {
///         source_labels: Some(vec!["__address__".into()]),
///         target_label: "instance".into(),
///         ..RelabelConfigSpec::new(Action::Replace)
///     },
///     RelabelConfigSpec {
///         source_labels: Some(vec!["instance".into()]),
///         regex: Some(".*:9100".parse().unwrap()),
///         ..RelabelConfigSpec::new(Action::Drop)
///     },
/// ]
/// .map(|r| r.build(ValidationScheme::Utf8).unwrap());
/// let steps = trace(&Labels::from_pairs([("__address__", "db:9100")]), &rules);
/// assert_eq!(steps.len(), 2);
/// assert_eq!(steps[0].output.as_ref().unwrap().get("instance"), Some("db:9100"));
/// assert!(steps[1].dropped());
/// ```
pub fn trace(labels: &Labels, configs: &[RelabelConfig]) -> Vec<TraceStep> {
    let mut builder = LabelsBuilder::new();
    let mut sc = Scratch::default();
    let mut steps = Vec::with_capacity(configs.len());
    let mut current = labels.clone();
    for (index, cfg) in configs.iter().enumerate() {
        let kept = apply(cfg, labels, &mut sc);
        let output = kept.then(|| sc.state.build(labels, &mut builder));
        steps.push(TraceStep {
            index,
            action: cfg.action(),
            input: current.clone(),
            output: output.clone(),
        });
        match output {
            Some(o) => current = o,
            None => break,
        }
    }
    steps
}
