//! Safe parsing of one manifest file (multi-document YAML or JSON) into JSON
//! values, each with its document index and line. No IO.
//!
//! Guards, all checked while parsing so that hostile input fails fast:
//! the file size limit is checked before anything is parsed; nesting is
//! limited to 128 levels (serde_yaml and serde_json stop there); and every
//! document has an *expansion budget* (32 × its size, at least 1 MiB) that
//! aliases cannot exceed, which stops "billion laughs" bombs long before
//! serde_yaml's own alias-repetition limit would.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::{Error, RenderOptions};

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
        let budget = Budget::new((chunk.text.len() * 32).max(1 << 20));
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

/// Bytes a document may still expand to.
struct Budget {
    limit: usize,
    left: Cell<usize>,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            left: Cell::new(limit),
        }
    }

    /// Charge `n` bytes (plus a node's overhead).
    fn charge<E: de::Error>(&self, n: usize) -> Result<(), E> {
        let cost = n + 16;
        match self.left.get().checked_sub(cost) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom(format_args!(
                "document expands to more than {} bytes (too many aliases?)",
                self.limit
            ))),
        }
    }
}

/// Builds a [`Value`] directly from a YAML deserializer, charging the budget
/// and turning scalar mapping keys into strings like Kubernetes does.
struct ValueSeed<'a>(&'a Budget);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.charge(0)?;
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format_args!("{v} cannot be represented in JSON")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.charge(v.len())?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.0.charge(v.len())?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.charge(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed(self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.charge(0)?;
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            if key == "<<" {
                return Err(de::Error::custom("YAML merge keys (<<) are not supported"));
            }
            let value = map.next_value_seed(ValueSeed(self.0))?;
            if object.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
        }
        Ok(Value::Object(object))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(de::Error::custom("YAML tags (!tag) are not supported"))
    }
}

/// Mapping keys: scalars, converted to strings.
struct KeySeed<'a>(&'a Budget);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar mapping key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.visit_string(v.to_string())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.visit_string(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.0.charge(v.len())?;
        Ok(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.visit_string("null".to_owned())
    }
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
