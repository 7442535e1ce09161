//! What the peer tests share: finding a peer binary, honouring `PROMLITE_PEERS`. Each
//! test file uses a subset.
#![allow(dead_code)]

use std::path::PathBuf;

/// Whether peers are required (`PROMLITE_PEERS=1`): a missing one is then a failure.
pub(crate) fn peers_required() -> bool {
    std::env::var("PROMLITE_PEERS").is_ok_and(|v| v == "1")
}

/// The peer program `name` on PATH (or in /usr/bin). Without it the caller skips, with
/// the reason printed; under `PROMLITE_PEERS=1` this panics instead.
pub(crate) fn peer(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    let found =
        on_path.or_else(|| Some(PathBuf::from("/usr/bin").join(name)).filter(|p| p.is_file()));
    if found.is_none() {
        assert!(
            !peers_required(),
            "PROMLITE_PEERS=1 but {name} is not installed"
        );
        eprintln!("skipping the comparison with {name}: not installed");
    }
    found
}
