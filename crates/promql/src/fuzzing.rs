//! Robustness checks shared by the fuzz target and the seed-replay test.

use crate::ast::{AtModifier, DurationValue, Expr};
use crate::parser::{Parser, ParserOptions};

/// Parses `data` with default and with all options; when parsing succeeds, prints the
/// tree, parses the print-out and asserts the two trees are equal (positions aside) and
/// that printing is stable. Panics on any violation; never panics on bad input.
///
/// Trees that Prometheus's canonical form itself cannot reproduce are only checked for
/// not panicking: a range below one millisecond (printed `0s`) and a timestamp beyond
/// 2^53 milliseconds.
pub fn fuzz_check(data: &[u8]) {
    let _ = Parser::new(ParserOptions::new()).parse_bytes(data);
    let parser = Parser::new(ParserOptions::all());
    let Ok(expr) = parser.parse_bytes(data) else {
        return;
    };
    let printed = expr.to_string();
    if !printable_exactly(&expr) {
        return;
    }
    let reparsed = match parser.parse(&printed) {
        Ok(e) => e,
        Err(e) => panic!(
            "printed form does not parse\ninput:   {:?}\nprinted: {printed}\nerror:   {e}",
            String::from_utf8_lossy(data)
        ),
    };
    let mut a = expr;
    a.normalize();
    let mut b = reparsed;
    b.normalize();
    assert_eq!(
        a,
        b,
        "round trip changed the tree\ninput:   {:?}\nprinted: {printed}",
        String::from_utf8_lossy(data)
    );
    assert_eq!(b.to_string(), printed, "printing is not stable");
}

fn printable_exactly(e: &Expr) -> bool {
    let mut ok = true;
    e.walk(&mut |n| {
        match n {
            Expr::MatrixSelector(m) => {
                ok &= m.range != DurationValue::Fixed(0);
            }
            Expr::Subquery(s) => {
                ok &= s.range != DurationValue::Fixed(0) && at_ok(s.at);
            }
            _ => {}
        }
        true
    });
    e.selectors().iter().all(|v| at_ok(v.at)) && ok
}

fn at_ok(at: Option<AtModifier>) -> bool {
    match at {
        Some(AtModifier::Timestamp(ms)) => ms.unsigned_abs() < (1 << 53),
        _ => true,
    }
}
