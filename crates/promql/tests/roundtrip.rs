//! Property: for generated trees, `parse(print(tree)) == tree` (positions aside, matchers
//! in printed order). Trees are generated type-correct and in the shapes the parser builds
//! (parentheses where precedence needs them, signs folded into number literals, set
//! operators many-to-many), because those are the trees printing must preserve.

use promlite_model::{MatchType, Matcher};
use promlite_promql::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Cardinality, DurationExpr,
    DurationValue, Expr, MatrixSelector, NumberLiteral, ParenExpr, Parser, ParserOptions, PosRange,
    StringLiteral, SubqueryExpr, UnaryExpr, UnaryOp, VectorMatching, VectorSelector, function,
};
use proptest::prelude::*;

fn num(value: f64) -> NumberLiteral {
    NumberLiteral {
        value,
        duration: false,
        span: PosRange::default(),
    }
}

/// A duration literal as the parser builds it: Go's `Duration.Seconds()` of whole ms.
fn dur_num(ms: i64) -> NumberLiteral {
    let ns = ms * 1_000_000;
    NumberLiteral {
        value: (ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9,
        duration: true,
        span: PosRange::default(),
    }
}

fn paren(e: Expr) -> Expr {
    Expr::Paren(Box::new(ParenExpr {
        expr: e,
        span: PosRange::default(),
    }))
}

fn number() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (0u32..100_000).prop_map(|v| Expr::Number(num(f64::from(v)))),
        (0.0f64..1e6).prop_map(|v| Expr::Number(num(v))),
        Just(Expr::Number(num(f64::INFINITY))),
        Just(Expr::Number(num(f64::NAN))),
        (1i64..400_000_000).prop_map(|ms| Expr::Number(dur_num(ms))),
    ]
}

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("job".to_owned()),
        Just("instance".to_owned()),
        Just("a.b".to_owned()),
        Just("le".to_owned()),
        Just("ünï".to_owned()),
    ]
}

fn matcher() -> impl Strategy<Value = Matcher> {
    prop_oneof![
        (label_name(), any::<String>()).prop_map(|(n, v)| Matcher::equal(n, v)),
        (label_name(), any::<String>())
            .prop_map(|(n, v)| Matcher::new(MatchType::NotEqual, n, v).unwrap()),
        (
            label_name(),
            prop::sample::select(vec!["a.*", "x|y", ".+", "[0-9]+", ""])
        )
            .prop_map(|(n, v)| Matcher::new(MatchType::Regexp, n, v).unwrap()),
        (label_name(), prop::sample::select(vec!["a.*", "x|y"])).prop_map(|(n, v)| Matcher::new(
            MatchType::NotRegexp,
            n,
            v
        )
        .unwrap()),
    ]
}

fn offset() -> impl Strategy<Value = DurationValue> {
    prop_oneof![
        3 => Just(DurationValue::Fixed(0)),
        1 => (-10_000_000_000i64..10_000_000_000).prop_map(DurationValue::Fixed),
        // After `offset` only an atom is part of the duration; `offset 1m + 1m` adds to
        // the selector. So a binary offset expression is parenthesised.
        1 => duration_expr().prop_map(|e| DurationValue::Expr(match e {
            DurationExpr::Binary { .. } => dparen(e),
            other => other,
        })),
    ]
}

fn at() -> impl Strategy<Value = Option<AtModifier>> {
    prop_oneof![
        3 => Just(None),
        1 => (-1_000_000_000_000i64..1_000_000_000_000).prop_map(|ms| Some(AtModifier::Timestamp(ms))),
        1 => Just(Some(AtModifier::Start)),
        1 => Just(Some(AtModifier::End)),
    ]
}

fn selector() -> impl Strategy<Value = VectorSelector> {
    (
        prop::option::of(prop::sample::select(vec![
            "foo", "bar_baz", "a:b", "sum", "offset", "by",
        ])),
        prop::collection::vec(matcher(), 0..3),
        any::<String>(),
        offset(),
        at(),
    )
        .prop_map(|(name, mut matchers, value, offset, at)| {
            match name {
                Some(n) => matchers.push(Matcher::equal("__name__", n)),
                // Without a name a selector needs a matcher that rejects the empty value.
                None => matchers.push(Matcher::equal("job", format!("x{value}"))),
            }
            VectorSelector {
                name: name.map(str::to_owned),
                matchers,
                offset,
                at,
                anchored: false,
                smoothed: false,
                span: PosRange::default(),
            }
        })
}

/// Duration expressions as the parser builds them (never a bare literal at the top).
fn duration_expr() -> impl Strategy<Value = DurationExpr> {
    let leaf = prop_oneof![
        (1i64..100_000_000).prop_map(|ms| DurationExpr::Number(dur_num(ms))),
        (1u32..1000).prop_map(|v| DurationExpr::Number(num(f64::from(v)))),
        Just(DurationExpr::Step(PosRange::default())),
        Just(DurationExpr::Range(PosRange::default())),
    ];
    let tree = leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                prop::sample::select(vec![
                    BinaryOp::Add,
                    BinaryOp::Sub,
                    BinaryOp::Mul,
                    BinaryOp::Pow
                ]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, l, r)| dbin(op, l, r)),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| DurationExpr::MaxOf {
                lhs: Box::new(l),
                rhs: Box::new(r),
                span: PosRange::default()
            }),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| DurationExpr::MinOf {
                lhs: Box::new(l),
                rhs: Box::new(r),
                span: PosRange::default()
            }),
            inner.clone().prop_map(dparen),
            inner.prop_map(|e| match e {
                DurationExpr::Number(_) => dparen(e),
                other => DurationExpr::Negate {
                    expr: Box::new(dparen(other)),
                    span: PosRange::default()
                },
            }),
        ]
    });
    tree.prop_map(|e| match e {
        DurationExpr::Number(_) => dparen(e),
        other => other,
    })
}

fn dparen(e: DurationExpr) -> DurationExpr {
    match e {
        DurationExpr::Paren { .. } => e,
        other => DurationExpr::Paren {
            expr: Box::new(other),
            span: PosRange::default(),
        },
    }
}

fn dprec(e: &DurationExpr) -> u8 {
    match e {
        DurationExpr::Binary { op, .. } => op.precedence(),
        _ => u8::MAX,
    }
}

fn dbin(op: BinaryOp, l: DurationExpr, r: DurationExpr) -> DurationExpr {
    let p = op.precedence();
    let right = op == BinaryOp::Pow;
    // `-x ^ y` parses as `-(x ^ y)`, so a negation left of `^` needs parentheses.
    let neg = matches!(l, DurationExpr::Negate { .. });
    let l = if dprec(&l) < p || (right && (dprec(&l) == p || neg)) {
        dparen(l)
    } else {
        l
    };
    let r = if dprec(&r) < p || (!right && dprec(&r) == p) {
        dparen(r)
    } else {
        r
    };
    DurationExpr::Binary {
        op,
        lhs: Box::new(l),
        rhs: Box::new(r),
    }
}

fn range() -> impl Strategy<Value = DurationValue> {
    prop_oneof![
        4 => (1i64..10_000_000_000).prop_map(DurationValue::Fixed),
        1 => duration_expr().prop_map(DurationValue::Expr),
    ]
}

/// Prometheus's lexer accepts the `:` of a subquery only once a number has been read
/// inside brackets, so an expression range starts with a literal.
fn subquery_range() -> impl Strategy<Value = DurationValue> {
    prop_oneof![
        4 => (1i64..10_000_000_000).prop_map(DurationValue::Fixed),
        1 => duration_expr().prop_map(|e| DurationValue::Expr(dbin(
            BinaryOp::Add,
            DurationExpr::Number(dur_num(1000)),
            e
        ))),
    ]
}

fn matrix_selector() -> impl Strategy<Value = Expr> {
    (selector(), range()).prop_map(|(selector, range)| {
        Expr::MatrixSelector(Box::new(MatrixSelector {
            selector,
            range,
            span: PosRange::default(),
        }))
    })
}

/// Precedence of an expression as an operand (unary binds like `*`).
fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Binary(b) => b.op.precedence(),
        Expr::Unary(_) => 5,
        _ => u8::MAX,
    }
}

fn binary(
    op: BinaryOp,
    l: Expr,
    r: Expr,
    matching: Option<VectorMatching>,
    return_bool: bool,
) -> Expr {
    let p = op.precedence();
    let right = op == BinaryOp::Pow;
    // A sign binds looser than `^`: `-x ^ y` and `+Inf ^ y` parse as signed powers.
    let signed = matches!(l, Expr::Unary(_))
        || matches!(&l, Expr::Number(n) if n.value < 0.0 || n.value.is_infinite());
    let l = if prec(&l) < p || (right && (prec(&l) == p || signed)) {
        paren(l)
    } else {
        l
    };
    let r = if prec(&r) < p || (!right && prec(&r) == p && !matches!(r, Expr::Unary(_))) {
        paren(r)
    } else {
        r
    };
    Expr::Binary(Box::new(BinaryExpr {
        op,
        lhs: l,
        rhs: r,
        matching,
        return_bool,
    }))
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call(Box::new(Call {
        func: function(name).unwrap(),
        args,
        span: PosRange::default(),
    }))
}

/// Operand of a postfix `[…]`: it must be a primary expression.
fn primary(e: Expr) -> Expr {
    match e {
        Expr::Binary(_) | Expr::Unary(_) => paren(e),
        other => other,
    }
}

const ARITH: [BinaryOp; 6] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Mod,
    BinaryOp::Pow,
];
const CMP: [BinaryOp; 6] = [
    BinaryOp::Eql,
    BinaryOp::Neq,
    BinaryOp::Lss,
    BinaryOp::Lte,
    BinaryOp::Gtr,
    BinaryOp::Gte,
];

fn scalar(depth: u32) -> BoxedStrategy<Expr> {
    if depth == 0 {
        return prop_oneof![number(), Just(call("time", vec![]))].boxed();
    }
    let s = || scalar(depth - 1);
    prop_oneof![
        3 => number(),
        1 => s().prop_map(paren),
        1 => vector(depth - 1).prop_map(|v| call("scalar", vec![v])),
        1 => (prop::sample::select(ARITH.to_vec()), s(), s())
            .prop_map(|(op, l, r)| binary(op, l, r, None, false)),
        1 => (prop::sample::select(CMP.to_vec()), s(), s())
            .prop_map(|(op, l, r)| binary(op, l, r, None, true)),
        1 => s().prop_map(|e| match e {
            Expr::Number(_) => paren(e),
            other => unary(other),
        }),
    ]
    .boxed()
}

fn unary(e: Expr) -> Expr {
    let e = match e {
        Expr::Binary(ref b) if b.op != BinaryOp::Pow => paren(e),
        Expr::Number(_) => paren(e),
        other => other,
    };
    Expr::Unary(Box::new(UnaryExpr {
        op: UnaryOp::Minus,
        expr: e,
        span: PosRange::default(),
    }))
}

fn matching() -> impl Strategy<Value = VectorMatching> {
    (
        prop::collection::vec(label_name(), 0..3),
        any::<bool>(),
        0u8..3,
        prop::collection::vec(prop::sample::select(vec!["x", "y.z"]), 0..2),
    )
        .prop_map(|(labels, on, group, include)| {
            let card = match group {
                1 => Cardinality::ManyToOne,
                2 => Cardinality::OneToMany,
                _ => Cardinality::OneToOne,
            };
            VectorMatching {
                card,
                labels,
                on,
                include: if card == Cardinality::OneToOne {
                    vec![]
                } else {
                    include.into_iter().map(str::to_owned).collect()
                },
                fill_lhs: None,
                fill_rhs: None,
            }
        })
}

fn aggregate(depth: u32) -> BoxedStrategy<Expr> {
    (
        prop::sample::select(vec![
            AggregateOp::Sum,
            AggregateOp::Avg,
            AggregateOp::Max,
            AggregateOp::Group,
            AggregateOp::Topk,
            AggregateOp::Quantile,
            AggregateOp::CountValues,
            AggregateOp::Limitk,
        ]),
        vector(depth),
        scalar(0),
        any::<String>(),
        prop::collection::vec(label_name(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(op, expr, s, text, grouping, without)| {
            let param = match op {
                AggregateOp::CountValues => Some(Expr::String(Box::new(StringLiteral {
                    value: text,
                    bytes: None,
                    span: PosRange::default(),
                }))),
                o if o.has_param() => Some(s),
                _ => None,
            };
            Expr::Aggregate(Box::new(AggregateExpr {
                op,
                expr,
                param,
                grouping,
                without,
                span: PosRange::default(),
            }))
        })
        .boxed()
}

fn vector(depth: u32) -> BoxedStrategy<Expr> {
    let leaf = selector().prop_map(|v| Expr::VectorSelector(Box::new(v)));
    if depth == 0 {
        return leaf.boxed();
    }
    let v = || vector(depth - 1);
    prop_oneof![
        4 => leaf,
        1 => v().prop_map(paren),
        1 => v().prop_map(|e| call("abs", vec![e])),
        1 => matrix_selector().prop_map(|m| call("rate", vec![m])),
        1 => (scalar(0), v()).prop_map(|(s, e)| call("histogram_quantile", vec![s, e])),
        1 => (v(), subquery_range(), prop_oneof![Just(DurationValue::Fixed(0)), range()], offset(), at())
            .prop_map(|(e, range, step, offset, at)| {
                let sq = Expr::Subquery(Box::new(SubqueryExpr {
                    expr: primary(e),
                    range,
                    step,
                    offset,
                    at,
                    span: PosRange::default(),
                }));
                call("max_over_time", vec![sq])
            }),
        2 => aggregate(depth - 1),
        1 => v().prop_map(unary),
        2 => (prop::sample::select(ARITH.iter().chain(&CMP).copied().collect::<Vec<_>>()), v(), v(), matching(), any::<bool>())
            .prop_map(|(op, l, r, m, b)| binary(op, l, r, Some(m), b && op.is_comparison())),
        1 => (prop::sample::select(vec![BinaryOp::And, BinaryOp::Or, BinaryOp::Unless]), v(), v(), prop::collection::vec(label_name(), 0..2), any::<bool>())
            .prop_map(|(op, l, r, labels, on)| {
                let m = VectorMatching { card: Cardinality::ManyToMany, labels, on, include: vec![], fill_lhs: None, fill_rhs: None };
                binary(op, l, r, Some(m), false)
            }),
        1 => (prop::sample::select(ARITH.iter().chain(&CMP).copied().collect::<Vec<_>>()), v(), scalar(0), any::<bool>())
            .prop_map(|(op, l, r, flip)| {
                let b = op.is_comparison() && flip;
                if flip { binary(op, r, l, None, b) } else { binary(op, l, r, None, b) }
            }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printed_trees_parse_back_to_themselves(tree in vector(3)) {
        let parser = Parser::new(ParserOptions::all());
        let printed = tree.to_string();
        let mut parsed = parser
            .parse(&printed)
            .unwrap_or_else(|e| panic!("printed tree does not parse: {e}\n{printed}"));
        let mut want = tree;
        want.normalize();
        parsed.normalize();
        prop_assert!(parsed == want, "printed:  {}\nreprinted: {}", printed, want.to_string());
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn printed_scalar_trees_parse_back(tree in scalar(3)) {
        let parser = Parser::new(ParserOptions::all());
        let printed = tree.to_string();
        let mut parsed = parser
            .parse(&printed)
            .unwrap_or_else(|e| panic!("printed tree does not parse: {e}\n{printed}"));
        let mut want = tree;
        want.normalize();
        parsed.normalize();
        prop_assert!(parsed == want, "printed:  {}\nreprinted: {}", printed, want.to_string());
    }
}
