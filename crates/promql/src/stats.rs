//! Query statistics, as Prometheus's `stats` API parameter reports them: how many
//! samples the query's selectors read (in all and step by step), the most samples it
//! held at once, and where its time went.

use std::time::Duration;

/// Statistics of one query (Prometheus's `stats.QueryStats`).
///
/// `total_queryable_samples` counts what the selectors read for each step as an instant
/// query at that step would: one sample per series an instant selector finds, every
/// sample in the window of a range selector under a function, and a subquery's output
/// points in the windows of the function over it (the subquery's own reads are not
/// counted again). Operators, aggregations and literals read nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryStats {
    /// Samples read, summed over the steps (`totalQueryableSamples`).
    pub total_queryable_samples: i64,
    /// The most samples held in memory at once, as `--query.max-samples` counts them
    /// (`peakSamples`).
    pub peak_samples: usize,
    /// `total_queryable_samples` step by step, as (timestamp in milliseconds, samples),
    /// every step listed: only when both the engine's options and the query asked for
    /// it (Prometheus's `promql-per-step-stats` feature and `stats=all`).
    pub per_step: Option<Vec<(i64, i64)>>,
    /// Where the evaluation's time went.
    pub timings: QueryTimings,
}

/// The engine's share of a query's timings (Prometheus's `queryTimings`, less the two
/// that the server measures around the engine: time queued and execution in all).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryTimings {
    /// Parsing and evaluation, sorting included (`evalTotalTime`).
    pub eval_total: Duration,
    /// Sorting a range query's series (`resultSortTime`; zero for instant queries).
    pub result_sort: Duration,
    /// Parsing the query (`queryPreparationTime`).
    pub query_preparation: Duration,
    /// The evaluation proper (`innerEvalTime`).
    pub inner_eval: Duration,
}

/// Samples counted while a query runs, on one evaluator's grid of steps.
#[derive(Debug, Clone, Default)]
pub(crate) struct SampleCounts {
    pub(crate) total: i64,
    /// One count per step, when per-step counts were asked for.
    pub(crate) per_step: Option<Vec<i64>>,
}

impl SampleCounts {
    /// Counts for `steps` steps, step by step only if `per_step`.
    pub(crate) fn new(steps: usize, per_step: bool) -> SampleCounts {
        SampleCounts {
            total: 0,
            per_step: per_step.then(|| vec![0; steps]),
        }
    }

    /// Empty counts of the same kind and grid.
    pub(crate) fn fresh(&self) -> SampleCounts {
        SampleCounts {
            total: 0,
            per_step: self.per_step.as_ref().map(|p| vec![0; p.len()]),
        }
    }

    /// Adds `n` samples read for step `step`.
    #[inline]
    pub(crate) fn add(&mut self, step: usize, n: usize) {
        self.total += n as i64;
        if let Some(c) = self.per_step.as_mut().and_then(|p| p.get_mut(step)) {
            *c += n as i64;
        }
    }

    /// Adds what `other` (counted on the same grid) holds.
    pub(crate) fn merge(&mut self, other: SampleCounts) {
        self.total += other.total;
        if let (Some(mine), Some(theirs)) = (self.per_step.as_mut(), other.per_step) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_and_merge_on_one_grid() {
        let mut a = SampleCounts::new(3, true);
        a.add(0, 2);
        a.add(2, 5);
        a.add(7, 1); // past the grid: in the total only
        let mut b = a.fresh();
        b.add(2, 1);
        a.merge(b);
        assert_eq!(a.total, 9);
        assert_eq!(a.per_step, Some(vec![2, 0, 6]));
        let mut t = SampleCounts::new(3, false);
        t.add(1, 4);
        assert_eq!((t.total, t.per_step), (4, None));
    }
}
