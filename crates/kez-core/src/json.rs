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
        StrictValue::deserialize(&mut de).map_err(|e| JsonError::Invalid(e.to_string()))?;
    de.end().map_err(|e| JsonError::Invalid(e.to_string()))?;
    Ok(v)
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
    if !v.is_object() {
        return Err(format!("expected a JSON object, found {}", kind(v)));
    }
    serde_json::from_value(v.clone()).map_err(|e| e.to_string())
}

/// `#[serde(deserialize_with = "json::object")]` for a record field:
/// [`from_object`] inside a derive.
pub fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    from_object(&Value::deserialize(d)?).map_err(de::Error::custom)
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
            .map(|item| from_object(item).map_err(de::Error::custom))
            .collect(),
        other => Err(de::Error::custom(format!(
            "expected a JSON array, found {}",
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
            .ok_or_else(|| E::custom("non-finite number"))
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
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicate_keys_at_any_depth() {
        assert!(parse_strict(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_strict(br#"{"x":[{"b":1,"b":1}]}"#).is_err());
        assert!(parse_strict(br#"{"a":1,"b":{"a":2}}"#).is_ok());
    }

    #[test]
    fn rejects_invalid_utf8_and_trailing_data() {
        assert!(parse_strict(b"{\"a\":\"\xff\"}").is_err());
        assert!(parse_strict(br#"{"a":1} x"#).is_err());
        assert!(parse_strict(b"").is_err());
    }

    #[test]
    fn flags_unsafe_numbers() {
        let ok = parse_strict(br#"{"a":[9007199254740991,-9007199254740991,0]}"#).unwrap();
        assert_eq!(ensure_safe_numbers(&ok), Ok(()));
        for bad in [
            &br#"{"a":9007199254740992}"#[..],
            br#"{"a":-9007199254740992}"#,
            br#"{"a":1.5}"#,
            br#"{"a":1.0}"#,
            br#"{"a":[1e3]}"#,
            br#"{"a":18446744073709551616}"#,
        ] {
            let v = parse_strict(bad).unwrap();
            assert_eq!(
                ensure_safe_numbers(&v),
                Err(JsonError::UnsafeNumber),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn canonical_form_sorts_keys_by_utf16_units() {
        let v = parse_strict(
            "{\"\u{fb33}\":1,\"\u{1f600}\":2,\"b\":[true,null],\"a\":\"é\\n\"}".as_bytes(),
        )
        .unwrap();
        let out = String::from_utf8(canonical_bytes(&v)).unwrap();
        assert_eq!(
            out,
            "{\"a\":\"é\\n\",\"b\":[true,null],\"\u{1f600}\":2,\"\u{fb33}\":1}"
        );
    }
}
