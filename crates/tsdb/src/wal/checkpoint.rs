//! WAL checkpoints: `checkpoint.NNNNNNNN` directories holding, in WAL segment format, what
//! the head still needs from segments up to and including `NNNNNNNN`, so those segments
//! can be deleted. Replay reads the newest checkpoint, then the segments after it.
//!
//! Prometheus builds a checkpoint by filtering the old segments; promlite writes the
//! head's live series and samples instead. The result is the same kind of directory
//! (Prometheus can replay it) and needs no second pass over the log.

use std::path::{Path, PathBuf};

use super::log::{Wal, WalOptions};
use crate::{Error, Result};

/// The newest complete checkpoint in `dir`: its number and path.
pub fn latest(dir: &Path) -> Result<Option<(u32, PathBuf)>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(dir)(e)),
    };
    let mut best: Option<(u32, PathBuf)> = None;
    for entry in rd {
        let entry = entry.map_err(Error::io(dir))?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|n| n.strip_prefix("checkpoint.")) else {
            continue;
        };
        // An unfinished checkpoint carries a `.tmp` suffix and is ignored.
        let Ok(i) = n.parse::<u32>() else { continue };
        if best.as_ref().is_none_or(|b| i > b.0) {
            best = Some((i, entry.path()));
        }
    }
    Ok(best)
}

/// Writes checkpoint `index` holding `records`, atomically (temporary directory, then
/// rename), and deletes older checkpoints.
pub fn write(dir: &Path, index: u32, records: &[Vec<u8>]) -> Result<PathBuf> {
    let name = format!("checkpoint.{index:08}");
    let tmp = dir.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = (|| {
        let mut w = Wal::open(&tmp, WalOptions::default())?;
        for chunk in records.chunks(64) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            w.log(&refs)?;
        }
        w.close()
    })();
    if let Err(e) = written {
        // On a full disk the half-written copy would hold space the next try needs.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let dst = dir.join(&name);
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::rename(&tmp, &dst).map_err(Error::io(&dst))?;
    crate::block::writer::sync_dir(dir)?;
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        let n = entry.file_name();
        if let Some(i) = n
            .to_str()
            .and_then(|n| n.strip_prefix("checkpoint."))
            .and_then(|n| n.parse::<u32>().ok())
            && i < index
        {
            std::fs::remove_dir_all(entry.path()).map_err(Error::io(entry.path()))?;
        }
    }
    Ok(dst)
}
