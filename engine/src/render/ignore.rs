//! `.plumblineignore`: gitignore patterns, relative to the rendered
//! directory, that exclude manifest files from a plain render. No IO.

use gix::bstr::ByteSlice;
use gix::glob::pattern::Case;

use super::Tree;

/// The name of the ignore file, read from the rendered directory.
pub(crate) const FILE: &str = ".plumblineignore";

/// Compiled patterns of a tree's `.plumblineignore` (none if absent).
pub(crate) struct Ignore {
    search: gix_ignore::Search,
}

impl Ignore {
    pub(crate) fn from_tree(tree: &Tree, root: &str) -> Self {
        let mut search = gix_ignore::Search::default();
        let file = if root.is_empty() {
            FILE.to_owned()
        } else {
            format!("{root}/{FILE}")
        };
        if let Some(bytes) = tree.get(&file) {
            // Parsing from a buffer cannot fail; an error would only come
            // from reading a file, which this does not do.
            let _ = search.add_patterns_buffer(
                bytes,
                FILE,
                None,
                gix_ignore::search::Ignore::default(),
            );
        }
        Self { search }
    }

    /// Whether `path` (a file, relative to the rendered directory) or one of
    /// its parent directories is ignored.
    pub(crate) fn is_ignored(&self, path: &str) -> bool {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash;
            if self.matches(&path[..end], true) {
                return true;
            }
            end += 1;
        }
        self.matches(path, false)
    }

    fn matches(&self, path: &str, is_dir: bool) -> bool {
        self.search
            .pattern_matching_relative_path(
                path.as_bytes().as_bstr(),
                Some(is_dir),
                Case::Sensitive,
            )
            .is_some_and(|m| !m.pattern.is_negative())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_patterns_apply_to_files_and_directories() {
        let tree: Tree = [(FILE, "# comment\n*.json\n!keep.json\ndrafts/\n/top.yaml\n")]
            .into_iter()
            .collect();
        let ignore = Ignore::from_tree(&tree, "");
        assert!(ignore.is_ignored("a/b.json"));
        assert!(!ignore.is_ignored("a/keep.json"));
        assert!(ignore.is_ignored("drafts/x.yaml"));
        assert!(ignore.is_ignored("a/drafts/x.yaml"));
        assert!(ignore.is_ignored("top.yaml"));
        assert!(!ignore.is_ignored("a/top.yaml"));
        assert!(!ignore.is_ignored("a/b.yaml"));
    }
}
