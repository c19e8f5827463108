//! Reading a local directory as a source, through cap-std.

use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::tree::Builder;
use super::{Error, Limits, Result, Tree};

/// Read every file under `root` into a [`Tree`], under the same [`Limits`]
/// and symlink rules as a Git source. `.git` directories are skipped.
///
/// All access goes through a cap-std [`Dir`] opened on `root`, so no path,
/// `..` or symlink can reach a file outside it; symlinks are resolved like in
/// a Git tree (targets must stay inside `root` and be files).
pub fn read_local_dir(root: &Path, limits: &Limits) -> Result<Tree> {
    let local_err = |path: &str| {
        let path = path.to_owned();
        move |source| Error::ReadLocal { path, source }
    };
    let dir = Dir::open_ambient_dir(root, ambient_authority())
        .map_err(local_err(&root.display().to_string()))?;
    let mut builder = Builder::new(limits);
    let mut pending = vec![String::new()];
    while let Some(rel) = pending.pop() {
        let entries = if rel.is_empty() {
            dir.entries()
        } else {
            dir.read_dir(&rel)
        }
        .map_err(local_err(&rel))?;
        for entry in entries {
            let entry = entry.map_err(local_err(&rel))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type().map_err(local_err(&path))?;
            if kind.is_dir() && entry.file_name() == ".git" {
                // A working tree's repository is not part of its content.
                continue;
            } else if kind.is_dir() {
                pending.push(path);
            } else if kind.is_symlink() {
                let target = dir.read_link_contents(&path).map_err(local_err(&path))?;
                builder.symlink(path, target.to_string_lossy().into_owned())?;
            } else if kind.is_file() {
                let size = entry.metadata().map_err(local_err(&path))?.len();
                builder.admit(&path, size)?;
                let bytes = dir.read(&path).map_err(local_err(&path))?;
                builder.file(path, bytes);
            }
        }
    }
    builder.finish()
}
