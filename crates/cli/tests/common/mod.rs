//! Helpers shared by the CLI's integration tests.

use std::path::PathBuf;

/// The path of a peer program (promtool, node_exporter …) from Debian's packages, if
/// installed. Under `PROMLITE_PEERS=1` (CI) a missing peer fails the test instead.
pub(crate) fn peer(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    assert!(
        found.is_some() || std::env::var("PROMLITE_PEERS").as_deref() != Ok("1"),
        "peer {name} is not installed but PROMLITE_PEERS=1"
    );
    if found.is_none() {
        eprintln!(
            "peer {name} not installed; comparison not run (set PROMLITE_PEERS=1 to require it)"
        );
    }
    found
}
