//! Outputs of a run, written atomically into `out/<scenario>/`: Parquet tables, `summary.json`,
//! and the terminal table.

pub mod charts;
pub mod parquet;
pub mod report;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Checks, before any work starts, that `dir`'s parent can be written.
pub fn check_writable(dir: &Path) -> Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| Error::io("creating output folder", parent, e))?;
    let probe = parent.join(format!(".liqsim-write-probe-{}", std::process::id()));
    fs::write(&probe, b"").map_err(|e| Error::io("writing into output folder", parent, e))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Writes `files` (name → bytes) into `dir` atomically: a sibling temporary folder is filled
/// (`extra` may write more into it), then renamed over `dir`, so readers never see a half-written
/// output; on any error the temporary folder is removed and `dir` is left as it was.
pub fn write_atomically(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    extra: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp-{}", dir.display(), std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
    let filled = files
        .iter()
        .try_for_each(|(name, bytes)| {
            crate::source::dataset::write_file_synced(&tmp.join(name), bytes)
        })
        .and_then(|()| extra(&tmp));
    if let Err(e) = filled {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| Error::io("replacing", dir, e))?;
    }
    fs::rename(&tmp, dir).map_err(|e| Error::io("moving into place", dir, e))
}
