//! [`Object`]: one Kubernetes-style object, parsed from the JSON text that
//! crosses the component boundary, with accessors for the fields every
//! policy reads. No IO.

use serde_json::{Map, Value};

use crate::types::{ObjectRef, Severity, Violation};

/// A Kubernetes-style object (`apiVersion`, `kind`, `metadata`, ...).
///
/// The accessors are lenient: a missing or mistyped field reads as empty
/// (`""` or `None`), because validators report such objects rather than
/// fail on them.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    fields: Map<String, Value>,
}

/// Why text could not be read as an [`Object`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The text is not JSON; carries `serde_json`'s message (with line and
    /// column).
    Json(String),
    /// The JSON is valid but not an object; carries the JSON type found.
    NotAnObject(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Json(message) => write!(f, "not valid JSON: {message}"),
            ParseError::NotAnObject(found) => write!(f, "expected a JSON object, found {found}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl Object {
    /// Parse one object from JSON text.
    pub fn parse(json: &str) -> Result<Self, ParseError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| ParseError::Json(e.to_string()))?;
        Self::from_value(value)
    }

    /// Wrap a JSON value, which must be an object.
    pub fn from_value(value: Value) -> Result<Self, ParseError> {
        match value {
            Value::Object(fields) => Ok(Self { fields }),
            other => Err(ParseError::NotAnObject(json_type(&other))),
        }
    }

    /// Serialise to the JSON text the host expects.
    pub fn to_json(&self) -> String {
        // Serialising a map of JSON values cannot fail.
        Value::Object(self.fields.clone()).to_string()
    }

    /// The top-level fields.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The top-level fields, for changing the object.
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.fields
    }

    /// The object as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.fields)
    }

    /// The value at a dotted path with indices, e.g.
    /// `spec.template.spec.containers[0].image`, or `None`.
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut current: Option<&Value> = None;
        for step in parse_path(path) {
            current = match (current, step) {
                (None, Step::Key(key)) => self.fields.get(key),
                (Some(Value::Object(map)), Step::Key(key)) => map.get(key),
                (Some(Value::Array(items)), Step::Index(i)) => items.get(i),
                _ => None,
            };
            current?;
        }
        current
    }

    /// `apiVersion`, e.g. `apps/v1`.
    pub fn api_version(&self) -> &str {
        self.str_field("apiVersion")
    }

    /// `kind`, e.g. `Deployment`.
    pub fn kind(&self) -> &str {
        self.str_field("kind")
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.metadata_str("name").unwrap_or("")
    }

    /// `metadata.namespace`, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata_str("namespace")
    }

    /// `metadata.labels`, if the object has any.
    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.metadata()?.get("labels")?.as_object()
    }

    /// The value of one label.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels()?.get(key)?.as_str()
    }

    /// `metadata.annotations`, if the object has any.
    pub fn annotations(&self) -> Option<&Map<String, Value>> {
        self.metadata()?.get("annotations")?.as_object()
    }

    /// The value of one annotation.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations()?.get(key)?.as_str()
    }

    /// Set a label, creating `metadata.labels` if needed.
    pub fn set_label(&mut self, key: &str, value: &str) {
        self.metadata_map_mut("labels")
            .insert(key.to_owned(), Value::String(value.to_owned()));
    }

    /// Set an annotation, creating `metadata.annotations` if needed.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        self.metadata_map_mut("annotations")
            .insert(key.to_owned(), Value::String(value.to_owned()));
    }

    /// The reference the host uses to name this object.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            api_version: self.api_version().to_owned(),
            kind: self.kind().to_owned(),
            namespace: self.namespace().map(str::to_owned),
            name: self.name().to_owned(),
        }
    }

    /// A violation about this object at `path` (dotted, with indices;
    /// empty for the whole object).
    pub fn violation(
        &self,
        path: impl Into<String>,
        message: impl Into<String>,
        severity: Severity,
    ) -> Violation {
        Violation {
            target: Some(self.object_ref()),
            path: path.into(),
            message: message.into(),
            severity,
        }
    }

    fn str_field(&self, key: &str) -> &str {
        self.fields.get(key).and_then(Value::as_str).unwrap_or("")
    }

    fn metadata(&self) -> Option<&Map<String, Value>> {
        self.fields.get("metadata")?.as_object()
    }

    fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata()?.get(key)?.as_str()
    }

    /// `metadata.<key>` as a map, replacing a missing or non-object value.
    fn metadata_map_mut(&mut self, key: &str) -> &mut Map<String, Value> {
        let metadata = object_entry(&mut self.fields, "metadata");
        object_entry(metadata, key)
    }
}

/// `map[key]` as an object, inserted (or replacing a non-object) if needed.
fn object_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(inner) => inner,
        _ => unreachable!("replaced by an object above"),
    }
}

/// The JSON type name of a value, for messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One step of a dotted path.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Split `a.b[0].c` into steps. A malformed index yields a key that
/// matches nothing.
fn parse_path(path: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, mut rest) = match segment.find('[') {
            Some(at) => segment.split_at(at),
            None => (segment, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else {
                steps.push(Step::Key(rest));
                break;
            };
            match stripped[..end].parse() {
                Ok(index) => steps.push(Step::Index(index)),
                Err(_) => steps.push(Step::Key(&stripped[..end])),
            }
            rest = &stripped[end + 1..];
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Object {
        Object::parse(
            r#"{"apiVersion":"apps/v1","kind":"Deployment",
                "metadata":{"name":"api","namespace":"web","labels":{"app":"api"}},
                "spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx:1"}]}}}}"#,
        )
        .expect("valid object")
    }

    #[test]
    fn reads_identity_and_metadata() {
        let object = deployment();
        assert_eq!(object.api_version(), "apps/v1");
        assert_eq!(object.kind(), "Deployment");
        assert_eq!(object.name(), "api");
        assert_eq!(object.namespace(), Some("web"));
        assert_eq!(object.label("app"), Some("api"));
        assert_eq!(object.annotation("x"), None);
        assert_eq!(
            object.object_ref().to_string(),
            "apps/v1/Deployment web/api"
        );
    }

    #[test]
    fn gets_values_by_dotted_path() {
        let object = deployment();
        assert_eq!(
            object.get("spec.template.spec.containers[0].image"),
            Some(&Value::from("nginx:1"))
        );
        assert_eq!(object.get("spec.template.spec.containers[1]"), None);
        assert_eq!(object.get("spec.template[0]"), None);
        assert_eq!(object.get("metadata.labels.app"), Some(&Value::from("api")));
    }

    #[test]
    fn sets_labels_and_annotations_creating_metadata() {
        let mut object =
            Object::parse(r#"{"kind":"ConfigMap","metadata":{"labels":7}}"#).expect("valid object");
        object.set_label("a", "1");
        object.set_annotation("b", "2");
        assert_eq!(object.label("a"), Some("1"));
        assert_eq!(object.annotation("b"), Some("2"));
        let reparsed = Object::parse(&object.to_json()).expect("round trip");
        assert_eq!(reparsed, object);
    }

    #[test]
    fn rejects_text_that_is_not_an_object() {
        assert_eq!(
            Object::parse("[1]"),
            Err(ParseError::NotAnObject("an array"))
        );
        let err = Object::parse("{").expect_err("truncated JSON");
        assert!(err.to_string().starts_with("not valid JSON: EOF"), "{err}");
    }

    #[test]
    fn violation_names_the_object_and_path() {
        let v = deployment().violation("spec.replicas", "too many", Severity::Warning);
        let target = v.target.expect("has a target");
        assert_eq!(target.name, "api");
        assert_eq!(v.path, "spec.replicas");
        assert!(matches!(v.severity, Severity::Warning));
    }
}
