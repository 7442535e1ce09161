//! A size-limited tmpfs for the disk-full tests of the tsdb and cli crates (included by
//! both with `#[path]`): mounted on a directory, unmounted when dropped. Mounting needs
//! root; without it the tests say so and pass, except under `PROMLITE_PEERS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a directory, unmounted when dropped.
pub(crate) struct Tmpfs(pub(crate) PathBuf);

impl Tmpfs {
    pub(crate) fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_owned())),
            other => {
                assert!(
                    std::env::var("PROMLITE_PEERS").as_deref() != Ok("1"),
                    "cannot mount a tmpfs (root needed) but PROMLITE_PEERS=1: {other:?}"
                );
                eprintln!("cannot mount a tmpfs ({other:?}); disk-full test not run");
                None
            }
        }
    }

    pub(crate) fn remount(&self, opts: &str) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "remount {opts}: {o:?}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}
