//! The experimental `info(v, {selector})` function: it adds the data labels of info
//! metrics (`target_info` unless the selector names others) to the series of `v` whose
//! identifying labels (`instance`, `job`) they share, as Prometheus 3's `info.go` does.
//!
//! At each step, a series of `v` is joined with the latest sample (within the lookback
//! delta) of every info metric whose `instance` and `job` values equal its own, absent
//! labels included. Labels the series already has win; two info series of one metric
//! with the same signature are resolved by the newer sample, or fail when their samples
//! are equally old; two info metrics offering different values of one label fail.
//! Series of `v` that are themselves selected info metrics pass through unchanged.
//!
//! The info series are read at the time the first argument's first selector is read:
//! its `@` and `offset` (and those of the subqueries around it) apply to them too, so
//! `info(v @ t)` is step invariant, as the runner's `@` re-evaluation checks demand.

use std::collections::{HashMap, HashSet};

use promlite_model::{Labels, LabelsBuilder, METRIC_NAME, MatchType, Matcher};
use promlite_storage::SelectHints;

use crate::ast::{Call, Expr, SubqueryExpr, VectorSelector};
use crate::engine::{Evaluator, push_sample};
use crate::eval_error::EvalError;
use crate::value::{Matrix, Series};

/// The labels that tie an info series to the series it describes. Prometheus hard-codes
/// them too, so that it needs no per-metric knowledge.
const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// Evaluates `info(...)`.
pub(crate) fn eval_info(ev: &mut Evaluator<'_>, c: &Call) -> Result<Matrix, EvalError> {
    // Resolve the modifiers before evaluating: they come from the written expression.
    let (at, offset) = reference_time(ev, &c.args[0])?;
    let mat = ev.eval_matrix(&c.args[0])?;

    // Data label matchers by label name; `__name__` ones choose the info metrics.
    let mut data: HashMap<String, Vec<Matcher>> = HashMap::new();
    let mut name_matchers: Vec<Matcher> = Vec::new();
    if let Some(Expr::VectorSelector(sel)) = c.args.get(1).map(crate::funcs::unwrap) {
        for m in &sel.matchers {
            data.entry(m.name().to_owned()).or_default().push(m.clone());
            if m.name() == METRIC_NAME {
                name_matchers.push(m.clone());
            }
        }
    }
    let effective = effective_name_matchers(name_matchers);
    // Info series in `v` are not enriched (all the name matchers must accept them).
    let ignored: Vec<bool> = mat
        .iter()
        .map(|s| {
            let name = s.metric.metric_name().unwrap_or("");
            effective.iter().all(|m| m.matches(name))
        })
        .collect();

    let info = fetch_info(ev, &mat, &ignored, &data, at, offset)?;
    // `__name__` picks info metrics; it is not a data label to copy or require.
    data.remove(METRIC_NAME);
    combine(ev, &mat, &ignored, &info, &data)
}

/// The `@` time and accumulated offset of the first selector in `e`: the innermost `@`
/// among the selector and its enclosing subqueries anchors the time; offsets add up from
/// the selector outwards until that anchor.
fn reference_time(ev: &Evaluator<'_>, e: &Expr) -> Result<(Option<i64>, i64), EvalError> {
    fn find<'e>(
        e: &'e Expr,
        path: &mut Vec<&'e SubqueryExpr>,
    ) -> Option<(&'e VectorSelector, Vec<&'e SubqueryExpr>)> {
        match e {
            Expr::VectorSelector(vs) => return Some((vs, path.clone())),
            Expr::MatrixSelector(ms) => return Some((&ms.selector, path.clone())),
            Expr::Subquery(sq) => {
                path.push(sq);
                let r = find(&sq.expr, path);
                path.pop();
                return r;
            }
            _ => {}
        }
        e.children().find_map(|c| find(c, path))
    }
    let Some((vs, subqueries)) = find(e, &mut Vec::new()) else {
        return Ok((None, 0));
    };
    let mut at = ev.at_time(vs.at);
    let mut offset = ev.duration(&vs.offset)?;
    for sq in subqueries.iter().rev() {
        if at.is_some() {
            break;
        }
        offset += ev.duration(&sq.offset)?;
        at = ev.at_time(sq.at);
    }
    Ok((at, offset))
}

/// The `__name__` matchers that select info series: the given ones when one of them is
/// positive; with only negative ones, those plus `=~".+_info"`; with none, `target_info`.
fn effective_name_matchers(mut ms: Vec<Matcher>) -> Vec<Matcher> {
    if ms
        .iter()
        .any(|m| matches!(m.match_type(), MatchType::Equal | MatchType::Regexp))
    {
        return ms;
    }
    if ms.is_empty() {
        return vec![Matcher::equal(METRIC_NAME, "target_info")];
    }
    let any_info =
        Matcher::new(MatchType::Regexp, METRIC_NAME, ".+_info").expect("a constant regex compiles");
    ms.insert(0, any_info);
    ms
}

/// One info series: labels and, per step, the timestamp of the sample in effect then.
struct InfoSeries {
    metric: Labels,
    /// Per step: the original timestamp of the sample found, `Err` if it is a histogram.
    at_step: Vec<Option<Result<i64, ()>>>,
}

/// Reads the info series that could match the non-ignored series of `mat`.
fn fetch_info(
    ev: &mut Evaluator<'_>,
    mat: &Matrix,
    ignored: &[bool],
    data: &HashMap<String, Vec<Matcher>>,
    at: Option<i64>,
    offset: i64,
) -> Result<Vec<InfoSeries>, EvalError> {
    let mut values: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (s, &ign) in mat.iter().zip(ignored) {
        if ign {
            continue;
        }
        for name in IDENTIFYING {
            if let Some(v) = s.metric.get(name) {
                values.entry(name).or_default().insert(v);
            }
        }
    }
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let mut matchers = Vec::new();
    let mut names: Vec<&&str> = values.keys().collect();
    names.sort();
    for name in names {
        let mut vals: Vec<&&str> = values[*name].iter().collect();
        vals.sort();
        let re = vals
            .iter()
            .map(|v| regex::escape(v))
            .collect::<Vec<_>>()
            .join("|");
        matchers.push(
            Matcher::new(MatchType::Regexp, *name, re)
                .map_err(|e| EvalError::msg(e.to_string()))?,
        );
    }
    let mut name_matchers = Vec::new();
    for ms in data.values() {
        for m in ms {
            if m.name() == METRIC_NAME {
                name_matchers.push(m.clone());
            } else {
                matchers.push(m.clone());
            }
        }
    }
    matchers.extend(effective_name_matchers(name_matchers));

    let (first_ref, last_ref) = match at {
        Some(t) => (t - offset, t - offset),
        None => (ev.start - offset, ev.end - offset),
    };
    let lookback = ev.lookback;
    let hints = SelectHints {
        start: first_ref - lookback + 1,
        end: last_ref,
        step: ev.interval,
        func: Some("info".to_owned()),
        range: 0,
    };
    let refs = crate::engine::step_refs(ev.start, ev.end, ev.interval, at, offset);
    let mut out = Vec::new();
    ev.select(
        &matchers,
        first_ref - lookback + 1,
        last_ref,
        &hints,
        false,
        |_, l| {
            // The sample in effect at each reference time, as an instant selector finds it.
            let mut at_step = Vec::with_capacity(refs.len());
            let (mut fi, mut hi) = (0usize, 0usize);
            for &r in &refs {
                while fi < l.floats.len() && l.floats[fi].t <= r {
                    fi += 1;
                }
                while hi < l.hists.len() && l.hists[hi].t <= r {
                    hi += 1;
                }
                let f = fi.checked_sub(1).map(|i| l.floats[i]);
                let h = hi.checked_sub(1).map(|i| &l.hists[i]);
                let found = match (f, h) {
                    (Some(f), Some(h)) if h.t > f.t => (h.t, h.h.sum, true),
                    (None, Some(h)) => (h.t, h.h.sum, true),
                    (Some(f), _) => (f.t, f.f, false),
                    (None, None) => {
                        at_step.push(None);
                        continue;
                    }
                };
                let (t, v, is_hist) = found;
                if t <= r - lookback || promlite_model::is_stale_nan(v) {
                    at_step.push(None);
                } else if is_hist {
                    at_step.push(Some(Err(())));
                } else {
                    at_step.push(Some(Ok(t)));
                }
            }
            out.push(InfoSeries {
                metric: l.metric,
                at_step,
            });
            Ok(())
        },
    )?;
    Ok(out)
}

/// An info metric's name and the values of the identifying labels (`None` if absent).
type Signature = (String, [Option<String>; 2]);

/// The join key of an info metric `name` for labels `l`: the name and the identifying
/// labels `l` has.
fn signature(name: &str, l: &Labels) -> Signature {
    (
        name.to_owned(),
        IDENTIFYING.map(|n| l.get(n).map(str::to_owned)),
    )
}

/// Joins `mat` with the info series step by step.
fn combine(
    ev: &mut Evaluator<'_>,
    mat: &Matrix,
    ignored: &[bool],
    info: &[InfoSeries],
    data: &HashMap<String, Vec<Matcher>>,
) -> Result<Matrix, EvalError> {
    let steps = ev.steps();
    let mut info_names: Vec<&str> = info
        .iter()
        .map(|s| s.metric.metric_name().unwrap_or(""))
        .collect();
    info_names.sort_unstable();
    info_names.dedup();
    let info_sigs: Vec<_> = info
        .iter()
        .map(|s| signature(s.metric.metric_name().unwrap_or(""), &s.metric))
        .collect();
    let all_match_empty = data.values().flatten().all(|m| m.matches(""));

    let mut out: Vec<Series> = Vec::new();
    let mut index: HashMap<Labels, (usize, i64)> = HashMap::new();
    let mut cursors = vec![(0usize, 0usize); mat.len()];
    for step in 0..steps {
        ev.tick()?;
        let ts = ev.start + step as i64 * ev.interval;
        // The newest info sample per signature at this step.
        let mut by_sig: HashMap<&Signature, (usize, i64)> = HashMap::new();
        for (i, s) in info.iter().enumerate() {
            let Some(found) = s.at_step[step] else {
                continue;
            };
            let Ok(t) = found else {
                return Err(EvalError::msg("info sample should be float"));
            };
            match by_sig.get(&info_sigs[i]) {
                Some(&(j, et)) if et == t => {
                    return Err(EvalError::msg(format!(
                        "found duplicate series for info metric: existing {} @ {et}, new {} @ {t}",
                        info[j].metric, s.metric
                    )));
                }
                Some(&(_, et)) if et > t => {}
                _ => {
                    by_sig.insert(&info_sigs[i], (i, t));
                }
            }
        }
        for (si, s) in mat.iter().enumerate() {
            let (fi, hi) = &mut cursors[si];
            while *fi < s.floats.len() && s.floats[*fi].t < ts {
                *fi += 1;
            }
            while *hi < s.histograms.len() && s.histograms[*hi].t < ts {
                *hi += 1;
            }
            let (f, h) = if *fi < s.floats.len() && s.floats[*fi].t == ts {
                (s.floats[*fi].f, None)
            } else if *hi < s.histograms.len() && s.histograms[*hi].t == ts {
                (0.0, Some(s.histograms[*hi].h.clone()))
            } else {
                continue;
            };
            let metric = if ignored[si] {
                s.metric.clone()
            } else {
                let mut added = LabelsBuilder::new();
                let mut seen = false;
                for name in &info_names {
                    let Some(&(ii, _)) = by_sig.get(&signature(name, &s.metric)) else {
                        continue;
                    };
                    seen = true;
                    for l in &info[ii].metric {
                        if l.name == METRIC_NAME || (!data.is_empty() && !data.contains_key(l.name))
                        {
                            continue;
                        }
                        if let Some(v) = added.get(l.name)
                            && v != l.value
                        {
                            return Err(EvalError::msg(format!("conflicting label: {}", l.name)));
                        }
                        if s.metric.has(l.name) {
                            continue;
                        }
                        added.set(l.name, l.value);
                    }
                }
                // Without a matching info series, a data matcher that needs a value
                // cannot be satisfied, so the sample is dropped.
                if !seen && !all_match_empty {
                    continue;
                }
                let mut b = s.metric.to_builder();
                for l in added.iter() {
                    b.set(l.name, l.value);
                }
                b.build()
            };
            let oi = match index.get_mut(&metric) {
                Some((oi, last)) => {
                    if *last == ts {
                        return Err(EvalError::same_labelset());
                    }
                    *last = ts;
                    *oi
                }
                None => {
                    index.insert(metric.clone(), (out.len(), ts));
                    out.push(Series {
                        metric,
                        drop_name: s.drop_name,
                        ..Series::default()
                    });
                    out.len() - 1
                }
            };
            push_sample(&mut out[oi], ts, f, h, steps);
            ev.add_samples(1)?;
        }
    }
    Ok(out)
}
