//! Safe parsing of one manifest file (multi-document YAML or JSON) into JSON
//! values, each with its document index and line. No IO.
//!
//! Guards, all checked while parsing so that hostile input fails fast:
//! the file size limit is checked before anything is parsed; nesting is
//! limited to 128 levels (serde_yaml and serde_json stop there); and every
//! document is read by the bounded YAML loader ([`crate::yaml`]), whose
//! *expansion budget* (32 × the document's size, at least 1 MiB) aliases
//! cannot exceed.

use serde::de::DeserializeSeed;
use serde_json::Value;

use super::{Error, RenderOptions};
use crate::yaml::{Budget, ValueSeed};

/// One document of a file.
#[derive(Debug)]
pub(crate) struct Document {
    /// 1-based document index within the file.
    pub index: usize,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// The document; never `Null` (empty documents are dropped).
    pub value: Value,
}

/// Parse `bytes` of `file` as JSON (`.json`) or multi-document YAML. Errors
/// are appended to `errors`; the documents that parsed are returned.
pub(crate) fn parse(
    file: &str,
    bytes: &[u8],
    options: &RenderOptions,
    errors: &mut Vec<Error>,
) -> Vec<Document> {
    if bytes.len() as u64 > options.max_file_size {
        errors.push(Error::FileTooLarge {
            file: file.to_owned(),
            size: bytes.len() as u64,
            limit: options.max_file_size,
        });
        return Vec::new();
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        errors.push(Error::NotUtf8 {
            file: file.to_owned(),
        });
        return Vec::new();
    };
    if file.ends_with(".json") {
        parse_json(file, text, errors)
    } else {
        parse_yaml(file, text, errors)
    }
}

fn parse_json(file: &str, text: &str, errors: &mut Vec<Error>) -> Vec<Document> {
    let mut docs = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut start = 0;
    loop {
        let line = line_of_offset(text, skip_ws(text, start));
        match stream.next() {
            None => break,
            Some(Ok(value)) => {
                start = stream.byte_offset();
                if !value.is_null() {
                    docs.push(Document {
                        index: docs.len() + 1,
                        line,
                        value,
                    });
                }
            }
            Some(Err(e)) => {
                errors.push(Error::Syntax {
                    file: file.to_owned(),
                    document: docs.len() + 1,
                    line: e.line(),
                    column: e.column(),
                    message: strip_position(&e.to_string()),
                });
                break;
            }
        }
    }
    docs
}

fn skip_ws(text: &str, from: usize) -> usize {
    from + text[from..].len() - text[from..].trim_start().len()
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// serde's messages end in " at line X column Y"; we report those separately.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A chunk of a YAML file between document separators.
struct Chunk<'a> {
    /// 0-based line of the chunk's first line.
    first_line: usize,
    text: &'a str,
}

/// Split YAML text at lines starting with `---` (document start markers).
/// A leading chunk without content (before the first `---`) is dropped.
fn chunks(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 0;
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let is_marker =
            line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        if is_marker && n > 0 {
            chunks.push(Chunk {
                first_line: start_line,
                text: &text[start..offset],
            });
            start = offset;
            start_line = n;
        }
        offset += line.len();
    }
    chunks.push(Chunk {
        first_line: start_line,
        text: &text[start..],
    });
    if chunks.len() > 1 && content_line(chunks[0].text).is_none() {
        chunks.remove(0);
    }
    chunks
}

/// 0-based index of the first line with content (not blank, a comment or a
/// bare `---`).
fn content_line(chunk: &str) -> Option<usize> {
    chunk.lines().position(|l| {
        let t = l.trim();
        !(t.is_empty() || t.starts_with('#') || t == "---")
    })
}

fn parse_yaml(file: &str, text: &str, errors: &mut Vec<Error>) -> Vec<Document> {
    let mut docs = Vec::new();
    for (i, chunk) in chunks(text).into_iter().enumerate() {
        let index = i + 1;
        let Some(content) = content_line(chunk.text) else {
            continue;
        };
        let budget = Budget::for_text(chunk.text);
        for de in serde_yaml::Deserializer::from_str(chunk.text) {
            match ValueSeed(&budget).deserialize(de) {
                Ok(Value::Null) => {}
                Ok(value) => docs.push(Document {
                    index,
                    line: chunk.first_line + content + 1,
                    value,
                }),
                Err(e) => {
                    let (line, column) = e
                        .location()
                        .map_or((chunk.first_line + content + 1, 1), |l| {
                            (chunk.first_line + l.line(), l.column())
                        });
                    errors.push(Error::Syntax {
                        file: file.to_owned(),
                        document: index,
                        line,
                        column,
                        message: strip_position(&e.to_string()),
                    });
                    break;
                }
            }
        }
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> (Vec<Document>, Vec<Error>) {
        let mut errors = Vec::new();
        let docs = parse(
            "f.yaml",
            text.as_bytes(),
            &RenderOptions::default(),
            &mut errors,
        );
        (docs, errors)
    }

    #[test]
    fn documents_know_their_index_and_line() {
        let (d, e) = docs("# c\n---\na: 1\n---\n\n---\n# x\nb: 2\n...\n");
        assert!(e.is_empty(), "{e:?}");
        let found: Vec<_> = d.iter().map(|d| (d.index, d.line)).collect();
        assert_eq!(found, [(1, 3), (3, 8)]);
        let (d, _) = docs("a: 1\n---\nb: 2\n");
        assert_eq!(
            d.iter().map(|d| (d.index, d.line)).collect::<Vec<_>>(),
            [(1, 1), (2, 3)]
        );
    }

    #[test]
    fn syntax_errors_name_document_line_and_column() {
        let (_, e) = docs("a: 1\n---\nb: 2\nc: [1,\n");
        let Error::Syntax { document, line, .. } = &e[0] else {
            panic!("{e:?}")
        };
        assert_eq!((*document, *line > 3), (2, true), "{e:?}");
    }

    #[test]
    fn scalar_keys_become_strings_and_merge_keys_are_refused() {
        let (d, e) = docs("data:\n  80: x\n  true: y\n");
        assert!(e.is_empty());
        assert_eq!(d[0].value["data"]["80"], "x");
        assert_eq!(d[0].value["data"]["true"], "y");
        let (_, e) = docs("a: &x {b: 1}\nc:\n  <<: *x\n");
        assert!(e[0].to_string().contains("merge keys"), "{}", e[0]);
    }

    #[test]
    fn json_streams_have_lines() {
        let mut errors = Vec::new();
        let d = parse(
            "f.json",
            b"{\"a\": 1}\n\n{\"b\": 2}",
            &RenderOptions::default(),
            &mut errors,
        );
        assert_eq!(
            d.iter().map(|d| (d.index, d.line)).collect::<Vec<_>>(),
            [(1, 1), (2, 3)]
        );
        parse(
            "g.json",
            b"{\"a\": }",
            &RenderOptions::default(),
            &mut errors,
        );
        assert!(
            matches!(
                &errors[0],
                Error::Syntax {
                    line: 1,
                    column: 7,
                    ..
                }
            ),
            "{errors:?}"
        );
    }
}
