//! Outputs of a run, written atomically into `out/<scenario>/`: Parquet tables, `summary.json`,
//! and the terminal table.

pub mod parquet;

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

/// Writes `files` (name → bytes) into `dir` atomically: a sibling temporary folder is filled,
/// then renamed over `dir`, so readers never see a half-written output.
pub fn write_atomically(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp-{}", dir.display(), std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
    for (name, bytes) in files {
        crate::source::dataset::write_file_synced(&tmp.join(name), bytes)?;
    }
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| Error::io("replacing", dir, e))?;
    }
    fs::rename(&tmp, dir).map_err(|e| Error::io("moving into place", dir, e))
}
