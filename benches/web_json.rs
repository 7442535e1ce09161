//! The JSON writer of the HTTP API: a range query's answer of 100 series × 1000 points,
//! the shape of `a_hundred` over 1000 steps in `benches/compare/query_latency.py`.
//! Values are bench_test.go's (`step + i/n`, seventeen significant digits) and whole
//! numbers, timestamps a minute apart. Answers of 20,000 points and more are written by
//! two threads; the 100 × 150 case measures one.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promlite_model::Labels;
use promlite_promql::{FPoint, Series, Value};

fn matrix(points: i64, whole: bool) -> Value {
    let t0 = 1_700_000_000_000_i64;
    Value::Matrix(
        (0..100)
            .map(|i| Series {
                metric: Labels::from_pairs([
                    ("__name__", "a_hundred".to_string()),
                    ("l", i.to_string()),
                ]),
                floats: (0..points)
                    .map(|s| FPoint {
                        t: t0 + s * 60_000,
                        f: if whole {
                            (s * 6) as f64
                        } else {
                            (s * 6) as f64 + f64::from(i) / 1313.0
                        },
                    })
                    .collect(),
                ..Series::default()
            })
            .collect(),
    )
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("web_json");
    for (name, points, whole) in [
        ("matrix_100x1000_fractions", 1000, false),
        ("matrix_100x1000_whole", 1000, true),
        ("matrix_100x150_fractions", 150, false),
        ("matrix_100x150_whole", 150, true),
    ] {
        g.throughput(Throughput::Elements(100 * points as u64));
        let value = matrix(points, whole);
        let mut out = Vec::with_capacity(4 << 20);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                promlite_web::write_result_json(&mut out, &value);
                out.len()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
