//! Strict JSON parsing and JCS (RFC 8785) canonicalisation.
//!
//! Two parsers must never disagree about the bytes that were signed, so request
//! bodies are parsed with duplicate object keys rejected (serde_json silently
//! keeps the last one), and signed payloads may only carry integers that every
//! JSON implementation represents exactly (|n| ≤ 2^53 − 1).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Largest integer every JSON parser (including JavaScript's) represents exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a body is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Syntax error, invalid UTF-8, duplicate key or trailing data.
    #[error("{0}")]
    Invalid(String),
    /// A float, or an integer outside ±(2^53 − 1), where only safe integers are allowed.
    #[error("numbers in signed payloads must be integers between -(2^53-1) and 2^53-1")]
    UnsafeNumber,
}

/// Parses bytes as JSON, rejecting duplicate object keys anywhere.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let StrictValue(v) =
        StrictValue::deserialize(&mut de).map_err(|e| JsonError::Invalid(syntax_sentence(&e)))?;
    de.end()
        .map_err(|e| JsonError::Invalid(syntax_sentence(&e)))?;
    Ok(v)
}

/// Our sentence for a body that does not parse, with where it went wrong
/// (serde's own wording is not passed on).
fn syntax_sentence(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        Category::Eof => {
            format!("the body ends before its JSON is complete (line {line}, column {column})")
        }
        Category::Syntax => format!("the body is not valid JSON at line {line}, column {column}"),
        // Raised by `StrictVisitor` in our words; serde_json adds the position.
        Category::Data => {
            let text = e.to_string();
            let ours = text
                .strip_suffix(&format!(" at line {line} column {column}"))
                .unwrap_or(&text);
            format!("{ours} (line {line}, column {column})")
        }
        Category::Io => "the body could not be read as JSON".to_owned(),
    }
}

/// Our sentence for a value whose shape does not fit, naming the field by
/// its dotted path from the document's top (`payload.handle`).
fn shape_sentence(path: &str, e: &serde_json::Error) -> String {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let text = full.strip_suffix(&position).unwrap_or(&full).to_owned();
    let field = |name: &str| match path {
        "" | "." => name.to_owned(),
        p => format!("{p}.{name}"),
    };
    let named = |prefix: &str| text.strip_prefix(prefix)?.split('`').next();
    if let Some(name) = named("missing field `") {
        return format!("the field `{}` is missing", field(name));
    }
    if let Some(name) = named("unknown field `") {
        // The path already ends at the unknown key it was read under.
        let full = if path == name || path.ends_with(&format!(".{name}")) {
            path.to_owned()
        } else {
            field(name)
        };
        return format!("the field `{full}` is not allowed here");
    }
    let at = match path {
        "" | "." => "the body".to_owned(),
        p => format!("the field `{p}`"),
    };
    if text.starts_with("invalid type:") {
        format!("{at} has the wrong JSON type")
    } else if text.starts_with("invalid value:") || text.starts_with("unknown variant") {
        format!("{at} has a value that is not allowed")
    } else if text.starts_with("invalid length") {
        format!("{at} has the wrong number of items")
    } else if text.starts_with("must be") {
        // From `object`/`objects`: says what the field should be.
        format!("{at} {text}")
    } else if matches!(path, "" | ".") {
        text
    } else {
        // A sentence of ours about a record inside the field.
        format!("{text} (in `{path}`)")
    }
}

/// Checks that every number in `v` is an integer within ±(2^53 − 1).
pub fn ensure_safe_numbers(v: &Value) -> Result<(), JsonError> {
    match v {
        Value::Number(n) => {
            let safe = n.as_u64().is_some_and(|u| u <= MAX_SAFE_INTEGER)
                || n.as_i64()
                    .is_some_and(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER);
            if safe {
                Ok(())
            } else {
                Err(JsonError::UnsafeNumber)
            }
        }
        Value::Array(items) => items.iter().try_for_each(ensure_safe_numbers),
        Value::Object(map) => map.values().try_for_each(ensure_safe_numbers),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

/// Deserializes `v` into a record type `T` only if `v` is a JSON object.
///
/// serde's derive also fills a struct from a JSON *array* in field order
/// (and an internally tagged enum from `[tag, …]`); signed documents and
/// every record inside them are objects with exact fields (SPEC §2), so
/// an array is refused here. Errors: the serde message, or "expected a
/// JSON object, found <kind>".
pub fn from_object<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, String> {
    from_object_at(v, "")
}

/// [`from_object`] for the member `at` of a document (`payload`): the
/// fields its errors name are given from the document's top.
pub fn from_object_at<T: serde::de::DeserializeOwned>(v: &Value, at: &str) -> Result<T, String> {
    if !v.is_object() {
        let what = if at.is_empty() { "the body" } else { at };
        return Err(format!("{what} must be a JSON object, not {}", kind(v)));
    }
    serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        let path = match (at, e.path().to_string()) {
            (at, p) if p == "." => at.to_owned(),
            ("", p) => p,
            (at, p) => format!("{at}.{p}"),
        };
        shape_sentence(&path, e.inner())
    })
}

/// Reads a struct from JSON text, with [`from_object`]'s sentences: for a
/// type that borrows from the text (`RawValue` fields kept verbatim).
pub fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            shape_sentence(&path, &inner)
        } else {
            syntax_sentence(&inner)
        }
    })
}

/// `#[serde(deserialize_with = "json::object")]` for a record field:
/// [`from_object`] inside a derive.
pub fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    if !v.is_object() {
        return Err(de::Error::custom(format!(
            "must be a JSON object, not {}",
            kind(&v)
        )));
    }
    from_object(&v).map_err(de::Error::custom)
}

/// `#[serde(deserialize_with = "json::objects")]` for a list of records:
/// a JSON array whose every item is an object ([`from_object`]).
pub fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(_) => from_object(item).map_err(de::Error::custom),
                other => Err(de::Error::custom(format!(
                    "must be a JSON array of objects, not of {}",
                    kind(other)
                ))),
            })
            .collect(),
        other => Err(de::Error::custom(format!(
            "must be a JSON array, not {}",
            kind(&other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The RFC 8785 canonical bytes of a JSON value.
pub fn canonical_bytes(v: &Value) -> Vec<u8> {
    // serde_jcs only fails on non-finite floats, which serde_json::Value cannot hold.
    serde_jcs::to_vec(v).unwrap_or_else(|e| unreachable!("JCS of a serde_json::Value: {e}"))
}

/// A `serde_json::Value` whose deserializer refuses duplicate keys.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number is too large"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key {key:?} appears twice in one object"
                )));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests;
