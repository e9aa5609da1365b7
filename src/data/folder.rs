//! Folders liqsim owns (datasets, run outputs): marked, refused when foreign, replaced atomically
//! under a lock.
//!
//! liqsim replaces a folder only when it is absent, empty, or carries liqsim's marker file
//! [`MARKER_FILE`] of the same kind (a dataset folder written before markers existed is also
//! accepted when it holds nothing but a readable manifest and the files it lists). The current
//! folder and its ancestors are always refused. A replacement fills `<dir>.tmp-<pid>` (marker
//! first), renames the old folder aside to `<dir>.old-<pid>`, renames the new one in, then deletes
//! the old one; the whole step runs under an exclusive lock on the parent folder, so concurrent
//! runs on one folder wait for each other. Leftover `*.tmp-<pid>` / `*.old-<pid>` folders of
//! processes that no longer run (a kill, a power cut) are deleted when they carry the marker.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The marker file in every folder liqsim writes.
pub const MARKER_FILE: &str = ".liqsim";

/// What kind of folder: the marker's content names it, so a dataset is never replaced by outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderKind {
    /// A dataset (`manifest.json` + Parquet files).
    Dataset,
    /// A run's outputs.
    Output,
}

impl FolderKind {
    fn marker(self) -> &'static str {
        match self {
            FolderKind::Dataset => "liqsim dataset folder: liqsim may replace it as a whole\n",
            FolderKind::Output => "liqsim output folder: liqsim may replace it as a whole\n",
        }
    }
    fn name(self) -> &'static str {
        match self {
            FolderKind::Dataset => "dataset",
            FolderKind::Output => "output",
        }
    }
}

fn refused(dir: &Path, why: impl std::fmt::Display) -> Error {
    Error::InvalidFile {
        path: dir.to_path_buf(),
        message: format!("refusing to replace this folder: {why}"),
    }
}

/// `path` made absolute against the current folder and with `.` / `..` resolved lexically
/// (symbolic links of the existing part are resolved too).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("reading current folder", ".", e))?;
    let joined = cwd.join(path);
    // Resolve the longest existing prefix (symlinks), then append the rest lexically.
    let mut existing = joined.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = fs::canonicalize(&existing).unwrap_or(existing);
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    let mut normal = PathBuf::new();
    for c in out.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    Ok(normal)
}

/// True when `dir` carries liqsim's marker of `kind`.
fn has_marker(dir: &Path, kind: FolderKind) -> bool {
    fs::read(dir.join(MARKER_FILE)).is_ok_and(|m| m == kind.marker().as_bytes())
}

/// A dataset folder written before markers: nothing but a readable manifest and its files.
fn is_legacy_dataset(dir: &Path) -> bool {
    let Ok(manifest) = crate::data::dataset::read_manifest(dir) else {
        return false;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.into_iter().all(|e| {
        e.ok().is_some_and(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            e.file_type().is_ok_and(|t| t.is_file())
                && (name == crate::data::dataset::MANIFEST_FILE
                    || manifest.files.contains_key(&name))
        })
    })
}

/// Checks, before any work, that liqsim may (create or) replace `dir` as a folder of `kind`:
/// it must end in a folder name, must not be the current folder or one of its ancestors, and
/// when it exists must be a folder that is empty or carries liqsim's marker of that kind.
/// Also checks that its parent can be created and written.
pub fn check_replaceable(dir: &Path, kind: FolderKind) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.file_name().is_none() {
        return Err(refused(
            dir,
            format!(
                "the {} folder must end in a folder name of its own (not `.`, `..` or `/`)",
                kind.name()
            ),
        ));
    }
    let abs = absolute(dir)?;
    let cwd = absolute(Path::new("."))?;
    if cwd.starts_with(&abs) {
        return Err(refused(
            dir,
            "it is the current folder or one of its parents; choose a folder of its own",
        ));
    }
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("reading", dir, e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(refused(
                dir,
                format!("it is not a folder (a {} folder was expected)", kind.name()),
            ));
        }
        Ok(_) => {
            let empty = fs::read_dir(dir)
                .map_err(|e| Error::io("reading", dir, e))?
                .next()
                .is_none();
            let ours =
                has_marker(dir, kind) || (kind == FolderKind::Dataset && is_legacy_dataset(dir));
            if !empty && !ours {
                return Err(refused(
                    dir,
                    format!(
                        "it is not empty and has no liqsim {} marker ({MARKER_FILE}), so it may hold files liqsim did not write; remove it yourself or choose another folder",
                        kind.name()
                    ),
                ));
            }
        }
    }
    check_parent_writable(dir)
}

/// Checks that `dir`'s parent can be created and written.
pub fn check_parent_writable(dir: &Path) -> Result<()> {
    let parent = parent_of(dir);
    fs::create_dir_all(&parent).map_err(|e| Error::io("creating folder", &parent, e))?;
    let probe = parent.join(format!(".liqsim-write-probe-{}", std::process::id()));
    fs::write(&probe, b"").map_err(|e| Error::io("writing into folder", &parent, e))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

fn parent_of(dir: &Path) -> PathBuf {
    dir.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// A lock on the folder holding `dir` (released when dropped).
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

/// Takes the exclusive lock on `dir`'s parent folder, waiting (with a note on stderr) while
/// another liqsim holds it.
pub fn lock_exclusive(dir: &Path) -> Result<FolderLock> {
    take_lock(dir, true)
}

/// Takes the shared lock (for reading) on `dir`'s parent folder.
pub fn lock_shared(dir: &Path) -> Result<FolderLock> {
    take_lock(dir, false)
}

fn take_lock(dir: &Path, exclusive: bool) -> Result<FolderLock> {
    let parent = parent_of(dir);
    fs::create_dir_all(&parent).map_err(|e| Error::io("creating folder", &parent, e))?;
    let file = File::open(&parent).map_err(|e| Error::io("opening to lock", &parent, e))?;
    let tried = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match tried {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!("waiting for another liqsim working in {}", parent.display());
            let waited = if exclusive {
                file.lock()
            } else {
                file.lock_shared()
            };
            waited.map_err(|e| Error::io("locking", &parent, e))?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("locking", &parent, e)),
    }
    Ok(FolderLock { _file: file })
}

/// `<dir><suffix>-<pid>` next to `dir`.
fn sibling(dir: &Path, suffix: &str, pid: u32) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .ok_or_else(|| refused(dir, "a folder path must end in a folder name"))?;
    let mut s = name.to_os_string();
    s.push(format!("{suffix}-{pid}"));
    Ok(dir.with_file_name(s))
}

/// True when process `pid` may still run (unknown on systems without `/proc`: assumed alive).
fn process_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    !proc_root.join("self").exists() || proc_root.join(pid.to_string()).exists()
}

/// Deletes `<dir>.tmp-<pid>` / `<dir>.old-<pid>` folders left by processes that no longer run,
/// when they are empty or carry the marker of `kind`.
fn clean_stale(dir: &Path, kind: FolderKind) {
    let parent = parent_of(dir);
    let Some(name) = dir.file_name().map(|n| n.to_string_lossy().to_string()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(&parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = file_name.strip_prefix(&name) else {
            continue;
        };
        let pid = rest
            .strip_prefix(".tmp-")
            .or_else(|| rest.strip_prefix(".old-"))
            .and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let empty = fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none());
        if empty || has_marker(&path, kind) {
            match fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(folder = %path.display(), "removed a stale folder of a process that no longer runs")
                }
                Err(e) => {
                    tracing::warn!(folder = %path.display(), error = %e, "cannot remove a stale folder")
                }
            }
        }
    }
}

/// Replaces (or creates) the folder `dir` of `kind` with one filled by `fill`, atomically.
/// The caller holds [`lock_exclusive`] on `dir` and has called [`check_replaceable`]; the check
/// is repeated here, under the lock. On any error `dir` is left as it was.
pub fn replace_locked<T>(
    dir: &Path,
    kind: FolderKind,
    fill: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    check_replaceable(dir, kind)?;
    clean_stale(dir, kind);
    let pid = std::process::id();
    let tmp = sibling(dir, ".tmp", pid)?;
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io("removing stale folder", &tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| Error::io("creating folder", &tmp, e))?;
    let filled =
        crate::data::dataset::write_file_synced(&tmp.join(MARKER_FILE), kind.marker().as_bytes())
            .and_then(|()| fill(&tmp));
    let value = match filled {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let old = sibling(dir, ".old", pid)?;
    let had_old = dir.exists();
    if had_old {
        if let Err(e) = fs::rename(dir, &old) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(Error::io("moving the old folder aside", dir, e));
        }
    }
    if let Err(e) = fs::rename(&tmp, dir) {
        if had_old {
            let _ = fs::rename(&old, dir);
        }
        let _ = fs::remove_dir_all(&tmp);
        return Err(Error::io("moving the new folder into place", dir, e));
    }
    if had_old {
        if let Err(e) = fs::remove_dir_all(&old) {
            tracing::warn!(folder = %old.display(), error = %e, "cannot remove the replaced folder");
        }
    }
    Ok(value)
}

/// [`check_replaceable`], [`lock_exclusive`] and [`replace_locked`] in one.
pub fn replace<T>(
    dir: &Path,
    kind: FolderKind,
    fill: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    check_replaceable(dir, kind)?;
    let _lock = lock_exclusive(dir)?;
    replace_locked(dir, kind, fill)
}

/// Refuses an output folder `out` that is or holds `other` (e.g. the datasets root), and with
/// `not_inside` also one that lies inside it (e.g. a dataset folder).
pub fn check_apart(out: &Path, other: &Path, what: &str, not_inside: bool) -> Result<()> {
    let (a, b) = (absolute(out)?, absolute(other)?);
    if b.starts_with(&a) || (not_inside && a.starts_with(&b)) {
        return Err(refused(
            out,
            format!("it is, holds or lies inside {what} {}", other.display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("liqsim-folder-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_foreign_folder_is_refused_and_kept() {
        let dir = temp("foreign");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("thesis.tex"), b"mine").unwrap();
        let err = replace(&dir, FolderKind::Output, |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("refusing") && err.contains("marker"), "{err}");
        assert_eq!(fs::read(dir.join("thesis.tex")).unwrap(), b"mine");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_marked_folder_is_replaced_and_kinds_do_not_mix() {
        let dir = temp("marked");
        replace(&dir, FolderKind::Output, |t| {
            fs::write(t.join("a"), b"1").map_err(|e| Error::io("w", t, e))
        })
        .unwrap();
        replace(&dir, FolderKind::Output, |t| {
            fs::write(t.join("b"), b"2").map_err(|e| Error::io("w", t, e))
        })
        .unwrap();
        assert!(!dir.join("a").exists() && dir.join("b").exists());
        assert!(replace(&dir, FolderKind::Dataset, |_| Ok(())).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_current_folder_and_its_parents_are_refused() {
        for p in [".", "..", "/"] {
            assert!(
                check_replaceable(Path::new(p), FolderKind::Output).is_err(),
                "{p}"
            );
        }
        let cwd = std::env::current_dir().unwrap();
        assert!(check_replaceable(&cwd, FolderKind::Output).is_err());
        assert!(check_replaceable(&cwd.join("x/.."), FolderKind::Output).is_err());
    }

    #[test]
    fn stale_folders_of_dead_processes_are_cleaned() {
        let dir = temp("stale");
        // Process ids above the kernel's maximum (4194304) never run.
        let stale = sibling(&dir, ".tmp", 4_999_999).unwrap();
        let foreign = sibling(&dir, ".old", 4_999_998).unwrap();
        fs::create_dir_all(&stale).unwrap();
        fs::write(stale.join(MARKER_FILE), FolderKind::Output.marker()).unwrap();
        fs::create_dir_all(&foreign).unwrap();
        fs::write(foreign.join("notes"), b"x").unwrap();
        replace(&dir, FolderKind::Output, |_| Ok(())).unwrap();
        if Path::new("/proc/self").exists() {
            assert!(!stale.exists());
        }
        assert!(
            foreign.join("notes").exists(),
            "unmarked folders are never removed"
        );
        for d in [dir, stale, foreign] {
            let _ = fs::remove_dir_all(d);
        }
    }
}
