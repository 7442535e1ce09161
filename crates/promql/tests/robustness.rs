//! Replays the fuzz corpus and a generated set of hostile inputs through
//! `fuzzing::fuzz_check`: nothing may panic, overflow the stack or hang, and every query
//! that parses must print to a form that parses back to the same tree.
//!
//! Test threads have Rust's default 2 MiB stack and this runs unoptimised, which is the
//! worst case for the nesting limit.

use promlite_promql::fuzzing::fuzz_check;
use promlite_promql::{ErrorKind, MAX_DEPTH, parse};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fuzz/corpus/promql_parse"
);
const CASES: &str = include_str!("parse_cases.txt");

#[test]
fn corpus_seeds_pass_the_fuzz_check() {
    let dir = std::path::Path::new(CORPUS);
    assert!(dir.is_dir(), "seed corpus missing: {}", dir.display());
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        fuzz_check(&data);
        n += 1;
    }
    assert!(n > 50, "only {n} seeds");
}

/// Deeply nested and very long inputs of every recursive shape.
fn deep_inputs() -> Vec<String> {
    let n = 20_000;
    vec![
        format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        format!("{}1", "-".repeat(n)),
        format!("{}1", "- ".repeat(n)),
        format!("1{}", " + 1".repeat(n)),
        format!("1{}", " ^ 1".repeat(n)),
        format!("foo{}", " or foo".repeat(n)),
        format!("{}foo{}", "abs(".repeat(n), ")".repeat(n)),
        format!("{}foo{}", "sum(".repeat(n), ")".repeat(n)),
        format!("foo{}", "[1m:]".repeat(n)),
        format!("foo[1m{}]", " + 1m".repeat(n)),
        format!("foo[{}1m{}]", "(".repeat(n), ")".repeat(n)),
        format!("foo[{}1m]", "-".repeat(n)),
        format!("foo offset {}1m{}", "(".repeat(n), ")".repeat(n)),
        format!("foo[{}1m{}]", "min_of(1m, ".repeat(n), ")".repeat(n)),
        format!("{}", "(".repeat(n)),
        format!("foo{{{}}}", "a=\"b\",".repeat(n)),
        format!("sum by ({}) (foo)", "a,".repeat(n)),
        format!("\"{}\"", "\\n".repeat(n)),
    ]
}

#[test]
fn deep_and_long_inputs_do_not_overflow() {
    for input in deep_inputs() {
        fuzz_check(input.as_bytes());
    }
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let err = parse(&deep).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Limit);
    assert!(err.to_string().contains("too deeply nested"), "{err}");
    // Nesting just below the limit still parses, prints and round-trips.
    let depth = (MAX_DEPTH as usize) / 2 - 2;
    let ok = format!("{}foo{}", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(parse(&ok).unwrap().to_string(), ok);
    fuzz_check(ok.as_bytes());
}

#[test]
fn malformed_inputs_are_rejected_cleanly() {
    let inputs: Vec<Vec<u8>> = vec![
        b"\"unterminated".to_vec(),
        b"'unterminated\n'".to_vec(),
        b"`unterminated".to_vec(),
        b"foo{a=\"unterminated".to_vec(),
        b"\"\\".to_vec(),
        b"\"\\x".to_vec(),
        b"\"\\U0011ffff\"".to_vec(),
        b"9".repeat(400),
        format!("0x{}", "f".repeat(100)).into_bytes(),
        format!("1e{}", "9".repeat(50)).into_bytes(),
        format!("foo[{}y]", "9".repeat(40)).into_bytes(),
        format!("foo offset {}s", "9".repeat(30)).into_bytes(),
        format!("foo @ {}", "9".repeat(400)).into_bytes(),
        b"foo @ -9223372036854775808".to_vec(),
        b"foo[0.0000001]".to_vec(),
        b"foo[1m:0.0000001]".to_vec(),
        b"\xff\xfe\xfd".to_vec(),
        b"foo{a=\"\xc3\"}".to_vec(),
        b"sum(\xc3\xa9)".to_vec(),
        b"\"\xf0\x9f\x98\"".to_vec(),
        b"foo{\"\xe2\x82\"}".to_vec(),
        b"\0".to_vec(),
        b"foo\0bar".to_vec(),
        b"#".to_vec(),
        b"foo # comment without newline".to_vec(),
        b"[[[[".to_vec(),
        b"]]]]".to_vec(),
        b"}}}}".to_vec(),
        b"{{{{".to_vec(),
        b"@@@@".to_vec(),
        b":::".to_vec(),
        b"foo[5m:1m:1m]".to_vec(),
        b"foo[:]".to_vec(),
        b"foo[1m] offset".to_vec(),
        b"fill_left(".to_vec(),
        b"a + fill(".to_vec(),
        b"a + fill(-".to_vec(),
        b"max_of(".to_vec(),
        b"foo[max_of(".to_vec(),
        b"foo[max_of(1m".to_vec(),
        b"foo[max_of(1m,".to_vec(),
        b"foo offset -(".to_vec(),
        b"foo @ start(".to_vec(),
        b"count_values by".to_vec(),
        b"\xef\xbf\xbd".to_vec(),
        "\"\u{fffd}\"".as_bytes().to_vec(),
    ];
    for input in &inputs {
        fuzz_check(input);
    }
}

/// A small deterministic generator, so the mutation test needs no extra dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn truncations_and_mutations_of_valid_queries() {
    const PIECES: &[&[u8]] = &[
        b"(",
        b")",
        b"[",
        b"]",
        b"{",
        b"}",
        b"\"",
        b"'",
        b"`",
        b",",
        b":",
        b"@",
        b"-",
        b"+",
        b"^",
        b" offset ",
        b" by ",
        b"5m",
        b"1e3",
        b"0x",
        b"step()",
        b"\\",
        b"\xff",
        b" or ",
        b"=~",
        b"!",
        b"#",
        b"\n",
        b" bool ",
        b"group_left",
        b"anchored",
        b"fill(",
        b"inf",
    ];
    let queries: Vec<&str> = CASES.lines().filter_map(|l| l.strip_prefix("< ")).collect();
    let mut rng = Lcg(0x5eed);
    for q in &queries {
        let b = q.as_bytes();
        for cut in 0..=b.len() {
            fuzz_check(&b[..cut]);
        }
        for _ in 0..8 {
            let mut m = b.to_vec();
            for _ in 0..=rng.below(3) {
                let at = rng.below(m.len() + 1);
                match rng.below(3) {
                    0 if !m.is_empty() => {
                        m.remove(at.min(m.len() - 1));
                    }
                    1 => {
                        let piece = PIECES[rng.below(PIECES.len())];
                        m.splice(at..at, piece.iter().copied());
                    }
                    _ if !m.is_empty() => {
                        let i = at.min(m.len() - 1);
                        m[i] = PIECES[rng.below(PIECES.len())][0];
                    }
                    _ => {}
                }
            }
            fuzz_check(&m);
        }
    }
}
