//! Printing for people: colours (anstyle, on a terminal only), violations grouped by
//! object with their file and line, YAML line diffs, and masking of Secret
//! values. No IO beyond writing to standard output.

use std::collections::BTreeMap;

use anstyle::{AnsiColor, Style};
use serde_json::Value;

use crate::object::ObjectKey;
use crate::policy::{printable, Severity, Violation};
use crate::render::Origin;

/// The exit status the first failed write to standard output calls for.
static STDOUT_FAILURE: std::sync::OnceLock<u8> = std::sync::OnceLock::new();

/// Write formatted text to standard output, instead of panicking as
/// `print!` does when it fails. When the reader went away (`plumbline
/// render | head`), later output is dropped quietly and the command ends
/// with 141, the status of a process killed by SIGPIPE; any other failure
/// is said once and ends it with 2 ([`stdout_failure`]). The command's
/// work itself goes on: a closed pipe never cuts a sync short.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    if STDOUT_FAILURE.get().is_some() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(args) {
        let status = if error.kind() == std::io::ErrorKind::BrokenPipe {
            141
        } else {
            eprintln!("error: writing to standard output: {error}");
            2
        };
        let _ = STDOUT_FAILURE.set(status);
    }
}

/// The exit status for a write to standard output that failed, if one did.
pub fn stdout_failure() -> Option<u8> {
    STDOUT_FAILURE.get().copied()
}

/// `print!` that exits quietly on a closed pipe; see [`write_out`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write_out(format_args!($($arg)*)) };
}

/// `println!` that exits quietly on a closed pipe; see [`write_out`].
macro_rules! outln {
    () => { $crate::cli::output::write_out(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// Red: errors, removals.
pub const RED: Style = AnsiColor::Red.on_default();
/// Green: success, additions.
pub const GREEN: Style = AnsiColor::Green.on_default();
/// Yellow: warnings, changes.
pub const YELLOW: Style = AnsiColor::Yellow.on_default();
/// Cyan: notes.
pub const CYAN: Style = AnsiColor::Cyan.on_default();
/// Bold: headings.
pub const BOLD: Style = Style::new().bold();
/// Dim: file and line, elided context.
pub const DIM: Style = Style::new().dimmed();

/// Whether standard output gets colour, as anstream decides it: on a
/// terminal, unless `NO_COLOR` is set or `TERM=dumb`; `CLICOLOR_FORCE`
/// forces it on. Decided once per process.
fn colour_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
    })
}

/// `text` in `style`, when standard output gets colour (see `colour_on`),
/// and always escaped for the terminal (`printable_lines`: line breaks of
/// multi-line errors stay): painted text is mostly names, messages and
/// YAML from manifests and policies, and the only control sequences on a
/// line must be the ones written here.
pub fn paint(style: Style, text: &str) -> String {
    let text = crate::policy::printable_lines(text);
    if colour_on() {
        format!("{style}{text}{style:#}")
    } else {
        text.into_owned()
    }
}

/// Where an object came from, as `file:line` relative to the repository.
/// Origins are recorded before namespaces are defaulted, so a key is also
/// looked up without namespace.
pub fn origin_of(origins: &BTreeMap<ObjectKey, Origin>, key: &ObjectKey) -> Option<String> {
    let bare = ObjectKey {
        namespace: None,
        ..key.clone()
    };
    origins
        .get(key)
        .or_else(|| origins.get(&bare))
        .map(|o| format!("{}:{}", o.file, o.line))
}

/// Violations grouped by object, with the object's file and line; the
/// objects in order of first violation.
pub fn print_violations(violations: &[Violation], origins: Option<&BTreeMap<ObjectKey, Origin>>) {
    let mut groups: Vec<(Option<ObjectKey>, Vec<&Violation>)> = Vec::new();
    let mut index: std::collections::HashMap<Option<ObjectKey>, usize> = Default::default();
    for violation in violations {
        let key = violation.target.as_ref().map(crate::object::ObjectRef::key);
        match index.get(&key) {
            Some(&i) => groups[i].1.push(violation),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![violation]));
            }
        }
    }
    for (key, list) in groups {
        let heading = match &key {
            Some(key) => {
                let origin = origins
                    .and_then(|o| origin_of(o, key))
                    .map(|o| format!(" ({o})"))
                    .unwrap_or_default();
                format!("{}{origin}", printable(&key.to_string()))
            }
            None => "the whole desired set".to_owned(),
        };
        outln!("{}", paint(BOLD, &heading));
        for violation in list {
            let (word, colour) = severity_word(violation.severity);
            let path = if violation.path.is_empty() {
                String::new()
            } else {
                format!(" {}:", printable(&violation.path))
            };
            outln!(
                "  {} [{}]{path} {}",
                paint(colour, word),
                printable(&violation.policy),
                printable(&violation.message)
            );
        }
    }
}

fn severity_word(severity: Severity) -> (&'static str, Style) {
    match severity {
        Severity::Error => ("error  ", RED),
        Severity::Warning => ("warning", YELLOW),
        Severity::Info => ("info   ", CYAN),
    }
}

/// Counts of violations by severity: (errors, warnings, infos).
pub fn severity_counts(violations: &[Violation]) -> (usize, usize, usize) {
    let count = |s| violations.iter().filter(|v| v.severity == s).count();
    (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    )
}

/// An object as YAML text.
pub fn yaml(object: &Value) -> String {
    serde_yaml::to_string(object).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
}

/// Whether an object is a Secret, whose values must never be printed.
pub fn is_secret(object: &Value) -> bool {
    object["kind"] == "Secret" && object["apiVersion"] == "v1"
}

/// A copy of a Secret with its `data` and `stringData` values replaced;
/// where `other` (the other side of a diff) has a different value for the
/// key, the mask says so, so a diff still shows which keys changed.
pub fn mask_secret(object: &Value, other: Option<&Value>) -> Value {
    let mut masked = object.clone();
    for field in ["data", "stringData"] {
        let Some(map) = masked.get_mut(field).and_then(Value::as_object_mut) else {
            continue;
        };
        for (key, value) in map.iter_mut() {
            let same = other
                .and_then(|o| o.get(field))
                .and_then(|m| m.get(key))
                .is_some_and(|v| v == value);
            let mask = if other.is_none() || same {
                "(hidden)"
            } else {
                "(hidden, differs)"
            };
            *value = Value::String(mask.to_owned());
        }
    }
    masked
}

/// A planned object's action as output shows it: the values of a drifted
/// Secret's fields are hidden, like everywhere else.
pub fn shown_action(object: &crate::plan::PlannedObject) -> serde_json::Result<Value> {
    let mut action = object.action.clone();
    let is_secret = object.key.kind == "Secret" && object.api_version == "v1";
    if let (crate::plan::Action::Drifted(drift), true) = (&mut action, is_secret) {
        let hidden = || Some(Value::String("(hidden)".to_owned()));
        for change in &mut drift.changes {
            change.desired = change.desired.as_ref().and_then(|_| hidden());
            change.live = change.live.as_ref().and_then(|_| hidden());
        }
    }
    serde_json::to_value(action)
}

/// The live object cut down to the fields the desired object sets, so a
/// diff shows what Git would change and not what the API server added.
pub fn project(desired: &Value, live: &Value) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => Value::Object(
            d.iter()
                .filter_map(|(k, dv)| l.get(k).map(|lv| (k.clone(), project(dv, lv))))
                .collect(),
        ),
        (Value::Array(d), Value::Array(l)) => Value::Array(
            l.iter()
                .enumerate()
                .map(|(i, lv)| d.get(i).map_or_else(|| lv.clone(), |dv| project(dv, lv)))
                .collect(),
        ),
        (_, live) => live.clone(),
    }
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// In both.
    Same(&'a str),
    /// Only in the old text.
    Removed(&'a str),
    /// Only in the new text.
    Added(&'a str),
}

/// How long one [`diff`] may search for the shortest edit; past it (two
/// large texts that differ throughout) it settles for a longer one.
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

/// A line diff (Myers' algorithm, through `similar`: linear memory, common
/// ends matched first, bounded by `DIFF_DEADLINE`).
pub fn diff<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let deadline = std::time::Instant::now() + DIFF_DEADLINE;
    similar::capture_diff_slices_deadline(similar::Algorithm::Myers, &a, &b, Some(deadline))
        .iter()
        .flat_map(|op| op.iter_changes(&a, &b))
        .map(|change| match change.tag() {
            similar::ChangeTag::Equal => Line::Same(change.value()),
            similar::ChangeTag::Delete => Line::Removed(change.value()),
            similar::ChangeTag::Insert => Line::Added(change.value()),
        })
        .collect()
}

/// Print a diff with two lines of context around changes, indented; every
/// line escaped for the terminal.
pub fn print_diff(lines: &[Line<'_>], indent: &str) {
    const CONTEXT: usize = 2;
    // Distance from each line to the nearest change, in two linear passes.
    let mut distance = vec![usize::MAX; lines.len()];
    let mut last = None;
    for (i, line) in lines.iter().enumerate() {
        if !matches!(line, Line::Same(_)) {
            last = Some(i);
        }
        distance[i] = last.map_or(usize::MAX, |c| i - c);
    }
    let mut next = None;
    for (i, line) in lines.iter().enumerate().rev() {
        if !matches!(line, Line::Same(_)) {
            next = Some(i);
        }
        distance[i] = distance[i].min(next.map_or(usize::MAX, |c| c - i));
    }
    let near = |i: usize| distance[i] <= CONTEXT;
    let mut skipped = false;
    for (i, line) in lines.iter().enumerate() {
        if !near(i) {
            skipped = true;
            continue;
        }
        if skipped {
            outln!("{indent}{}", paint(DIM, "  ..."));
            skipped = false;
        }
        match line {
            Line::Same(text) => outln!("{indent}  {}", printable(text)),
            Line::Removed(text) => outln!("{indent}{}", paint(RED, &format!("- {text}"))),
            Line::Added(text) => outln!("{indent}{}", paint(GREEN, &format!("+ {text}"))),
        }
    }
}

/// What each transformer did, for `sync` and `plan`: a line per
/// transformer (`policy X added 2, removed 1, changed 3 objects`), then one
/// per object it added (`+`), removed (`-`), moved (`>`) or changed (`~`).
/// The summaries' names are escaped already.
pub fn print_transformer_summaries(
    summaries: &[crate::reconcile::transform_guard::TransformerSummary],
) {
    if summaries.is_empty() {
        return;
    }
    outln!("{}", paint(BOLD, "Transformers:"));
    for summary in summaries {
        outln!("  {summary}");
        for line in summary.lines() {
            outln!("    {}", paint(CYAN, &line));
        }
    }
}

/// One line per object the transformers added (`+`), removed (`-`) or
/// moved (`>`), for the human output of `render` and `validate`; names a
/// transformer chose are escaped for the terminal.
pub fn transformer_changes(changes: &crate::reconcile::transform_guard::Changes) -> Vec<String> {
    let added = changes
        .added
        .iter()
        .map(|key| format!("+ added by a transformer    {key}"));
    let removed = changes
        .removed
        .iter()
        .map(|key| format!("- removed by a transformer  {key}"));
    let moved = changes
        .moved
        .iter()
        .map(|(from, to)| format!("> moved by a transformer    {from} -> {to}"));
    added
        .chain(removed)
        .chain(moved)
        .map(|line| crate::policy::printable(&line).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_diff_keeps_common_lines_and_marks_the_rest() {
        let lines = diff("a\nb\nc\n", "a\nx\nc\n");
        assert_eq!(
            lines,
            [
                Line::Same("a"),
                Line::Removed("b"),
                Line::Added("x"),
                Line::Same("c")
            ]
        );
    }

    #[test]
    fn large_diffs_stay_linear_and_keep_common_ends() {
        let old: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
        let new = old.replacen("line 7\n", "line seven\n", 1);
        let lines = diff(&old, &new);
        assert_eq!(lines.len(), 50_001);
        assert_eq!(lines[7], Line::Removed("line 7"));
        assert_eq!(lines[8], Line::Added("line seven"));
        // Two large texts that share nothing: linear memory, bounded time.
        let other: String = (0..50_000).map(|i| format!("other {i}\n")).collect();
        assert_eq!(diff(&old, &other).len(), 100_000);
    }

    #[test]
    fn secret_values_are_masked_but_changes_still_show() {
        let desired =
            json!({"apiVersion": "v1", "kind": "Secret", "data": {"a": "c2VjcmV0", "b": "eA=="}});
        let live =
            json!({"apiVersion": "v1", "kind": "Secret", "data": {"a": "c2VjcmV0", "b": "eQ=="}});
        let masked = mask_secret(&desired, Some(&live));
        assert_eq!(
            masked["data"],
            json!({"a": "(hidden)", "b": "(hidden, differs)"})
        );
        assert!(!masked.to_string().contains("c2VjcmV0"));
    }

    #[test]
    fn live_objects_are_projected_onto_the_desired_fields() {
        let desired = json!({"spec": {"replicas": 2, "containers": [{"image": "a"}]}});
        let live = json!({"spec": {"replicas": 3, "paused": false, "containers": [{"image": "b", "tty": false}]}, "status": {}});
        assert_eq!(
            project(&desired, &live),
            json!({"spec": {"replicas": 3, "containers": [{"image": "b"}]}})
        );
    }
}
