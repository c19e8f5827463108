//! [`Tree`]: the files of a source, in memory, and the rules every source
//! obeys while building one (size limits, symlink resolution). No IO.

use std::collections::BTreeMap;

use super::{Error, Limits, Result};

/// Files under a source path, keyed by their `/`-separated path relative to
/// that path (`apps/web/deploy.yaml`), with their exact bytes.
///
/// Symlinks have been resolved: a link to a file inside the path appears as a
/// copy of that file under the link's own name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<String, Vec<u8>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace the file at `path` (`/`-separated, relative).
    pub fn insert(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), bytes.into());
    }

    /// The bytes of the file at `path`, if there is one.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// All files in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, b)| (p.as_str(), b.as_slice()))
    }

    /// Whether some file lives under the directory `dir` (`""` is the root).
    pub fn is_dir(&self, dir: &str) -> bool {
        if dir.is_empty() {
            return !self.files.is_empty();
        }
        let prefix = format!("{dir}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Sum of all file sizes in bytes.
    pub fn total_size(&self) -> u64 {
        self.files.values().map(|b| b.len() as u64).sum()
    }
}

impl<P: Into<String>, B: Into<Vec<u8>>> FromIterator<(P, B)> for Tree {
    fn from_iter<I: IntoIterator<Item = (P, B)>>(iter: I) -> Self {
        let mut tree = Tree::new();
        for (p, b) in iter {
            tree.insert(p, b);
        }
        tree
    }
}

/// Collects files and symlinks while enforcing [`Limits`], then resolves the
/// symlinks. Sources check a file's size with [`Builder::admit`] *before*
/// reading it, so an oversized file is never loaded.
pub(crate) struct Builder<'a> {
    limits: &'a Limits,
    files: BTreeMap<String, Vec<u8>>,
    links: BTreeMap<String, String>,
    total: u64,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(limits: &'a Limits) -> Self {
        Self {
            limits,
            files: BTreeMap::new(),
            links: BTreeMap::new(),
            total: 0,
        }
    }

    /// Check that one more file of `size` bytes fits the limits.
    pub(crate) fn admit(&mut self, path: &str, size: u64) -> Result<()> {
        if self.files.len() + self.links.len() >= self.limits.max_files {
            return Err(Error::TooManyFiles {
                limit: self.limits.max_files,
            });
        }
        if size > self.limits.max_file_size {
            return Err(Error::FileTooLarge {
                path: path.to_owned(),
                size,
                limit: self.limits.max_file_size,
            });
        }
        if self.total + size > self.limits.max_total_size {
            return Err(Error::TotalTooLarge {
                limit: self.limits.max_total_size,
            });
        }
        self.total += size;
        Ok(())
    }

    /// Add a file admitted with [`Builder::admit`].
    pub(crate) fn file(&mut self, path: String, bytes: Vec<u8>) {
        self.files.insert(path, bytes);
    }

    /// Add a symlink at `path` whose target (as stored in the link) is `target`.
    pub(crate) fn symlink(&mut self, path: String, target: String) -> Result<()> {
        self.admit(&path, 0)?;
        self.links.insert(path, target);
        Ok(())
    }

    /// Resolve the symlinks and return the tree.
    pub(crate) fn finish(mut self) -> Result<Tree> {
        let links = std::mem::take(&mut self.links);
        for (path, _) in links.iter() {
            let target = resolve(&links, path)?;
            let Some(bytes) = self.files.get(&target).cloned() else {
                let is_dir = self
                    .files
                    .keys()
                    .any(|p| p.starts_with(&format!("{target}/")));
                return Err(Error::SymlinkUnresolved {
                    path: path.clone(),
                    target: links[path].clone(),
                    reason: if is_dir {
                        "links to directories are not supported"
                    } else {
                        "the target does not exist"
                    },
                });
            };
            self.admit(path, bytes.len() as u64)?;
            self.files.insert(path.clone(), bytes);
        }
        Ok(Tree { files: self.files })
    }
}

/// Follow the link at `path` (through chains of links, at most 40 like Linux)
/// to a path relative to the root, refusing anything that leaves the root.
fn resolve(links: &BTreeMap<String, String>, path: &str) -> Result<String> {
    let mut current = path.to_owned();
    for _ in 0..40 {
        let Some(target) = links.get(&current) else {
            return Ok(current);
        };
        let escape = || Error::SymlinkEscape {
            path: path.to_owned(),
            target: links[path].clone(),
        };
        if target.starts_with('/') || target.starts_with('\\') {
            return Err(escape());
        }
        let mut parts: Vec<&str> = current.split('/').collect();
        parts.pop();
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(escape());
                    }
                }
                other => parts.push(other),
            }
        }
        current = parts.join("/");
    }
    Err(Error::SymlinkUnresolved {
        path: path.to_owned(),
        target: links[path].clone(),
        reason: "too many levels of symbolic links",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_files: 4,
            max_file_size: 10,
            max_total_size: 15,
        }
    }

    #[test]
    fn links_resolve_inside_the_root_and_refuse_escapes() {
        let limits = Limits::default();
        let mut b = Builder::new(&limits);
        b.admit("a/x.yaml", 1).unwrap();
        b.file("a/x.yaml".into(), b"x".to_vec());
        b.symlink("b/y.yaml".into(), "../a/x.yaml".into()).unwrap();
        b.symlink("z.yaml".into(), "b/y.yaml".into()).unwrap();
        let tree = b.finish().unwrap();
        assert_eq!(tree.get("b/y.yaml"), Some(&b"x"[..]));
        assert_eq!(tree.get("z.yaml"), Some(&b"x"[..]));

        for target in ["../../etc/passwd", "/etc/passwd", "../../x"] {
            let mut b = Builder::new(&limits);
            b.symlink("a/link".into(), target.into()).unwrap();
            let err = b.finish().unwrap_err();
            assert!(
                matches!(err, Error::SymlinkEscape { .. }),
                "{target}: {err}"
            );
        }
        // `a/../x` is inside the root, but missing.
        let mut b = Builder::new(&limits);
        b.symlink("a/link".into(), "../x".into()).unwrap();
        let err = b.finish().unwrap_err();
        assert!(matches!(err, Error::SymlinkUnresolved { .. }), "{err}");
    }

    #[test]
    fn limits_are_checked_before_reading() {
        let limits = limits();
        let mut b = Builder::new(&limits);
        let err = b.admit("big", 11).unwrap_err();
        assert!(err.to_string().contains("big"), "{err}");
        b.admit("a", 10).unwrap();
        assert!(matches!(b.admit("b", 6), Err(Error::TotalTooLarge { .. })));
        let mut b = Builder::new(&limits);
        for i in 0..4 {
            b.admit(&i.to_string(), 0).unwrap();
            b.file(i.to_string(), vec![]);
        }
        assert!(matches!(
            b.admit("5", 0),
            Err(Error::TooManyFiles { limit: 4 })
        ));
    }

    #[test]
    fn directories_are_detected() {
        let tree: Tree = [("a/b/c.yaml", "x"), ("ab.yaml", "y")]
            .into_iter()
            .collect();
        assert!(tree.is_dir("a"));
        assert!(tree.is_dir("a/b"));
        assert!(!tree.is_dir("ab.yaml"));
        assert!(!tree.is_dir("a/b/c.yaml"));
    }
}
