//! Attachment bodies (SPEC §13): the `file`, `chunk` and `need` kinds of
//! the sealed message, whose `body` string is the JCS of one small object.
//!
//! Pure checks and builders: the server never opens them (it relays
//! envelopes), but Rust tools, the shared vectors and
//! [`crate::envelope::open`] use them so both clients accept the same bytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::json;

/// Raw bytes per chunk; every chunk but the last carries exactly this many.
pub const CHUNK_SIZE: usize = 81_920;
/// Largest file sent inline, in one message.
pub const MAX_INLINE: usize = 81_920;
/// Largest file at all (10 MiB); senders refuse bigger ones up front.
pub const MAX_FILE: usize = 10_485_760;
/// Most chunks a file has (`MAX_FILE / CHUNK_SIZE`).
pub const MAX_CHUNKS: usize = MAX_FILE / CHUNK_SIZE;
/// `type` of a `file` body (inline or pointer).
pub const FILE_TYPE: &str = "kez-file-v1";
/// `type` of a `chunk` body.
pub const CHUNK_TYPE: &str = "kez-file-chunk-v1";
/// `type` of a `need` body.
pub const NEED_TYPE: &str = "kez-file-need-v1";
/// The only media types a client renders inline; never SVG or HTML.
pub const INLINE_IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// A checked attachment body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// A whole file of at most [`MAX_INLINE`] bytes (`kind: "file"`, `mode: "inline"`).
    Inline {
        /// Display name (never a path).
        name: String,
        /// Claimed media type; see [`renders_inline`].
        mime: String,
        /// The file; its length and SHA-256 matched the body's.
        data: Vec<u8>,
    },
    /// The visible message of a chunked file (`kind: "file"`, `mode: "pointer"`).
    Pointer {
        /// 22 chars of b64url over 16 random bytes, shared with its chunks.
        file_id: String,
        /// Display name (never a path).
        name: String,
        /// Claimed media type; see [`renders_inline`].
        mime: String,
        /// Whole file size in bytes, `MAX_INLINE < size ≤ MAX_FILE`.
        size: u64,
        /// SHA-256 of the whole file.
        sha256: [u8; 32],
        /// `ceil(size / CHUNK_SIZE)`.
        chunks: u64,
    },
    /// One slice of a pointed-to file (`kind: "chunk"`).
    Chunk {
        /// The file this slice belongs to.
        file_id: String,
        /// 0-based position.
        index: u64,
        /// Number of chunks of the file (2..=128).
        count: u64,
        /// The slice's bytes.
        data: Vec<u8>,
    },
    /// A request to re-send chunks (`kind: "need"`).
    Need {
        /// The file concerned.
        file_id: String,
        /// Ascending, distinct chunk indices, 1..=128 of them.
        missing: Vec<u64>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInline {
    name: String,
    mime: String,
    size: u64,
    sha256: String,
    data: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPointer {
    file_id: String,
    name: String,
    mime: String,
    size: u64,
    sha256: String,
    chunks: u64,
    chunk_size: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChunk {
    file_id: String,
    index: u64,
    count: u64,
    data: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeed {
    file_id: String,
    missing: Vec<u64>,
}

/// Checks the `body` of a sealed message of `kind` `file`, `chunk` or
/// `need` (SPEC §13). `None` means `malformed_message`: not the exact JCS of
/// one object of the kind's shape, or a field breaking its rule.
pub fn parse_body(kind: &str, body: &str) -> Option<Attachment> {
    let value = json::parse_strict(body.as_bytes()).ok()?;
    if json::canonical_bytes(&value) != body.as_bytes() {
        return None;
    }
    let Value::Object(mut map) = value else {
        return None;
    };
    let tag = map.remove("type")?;
    match (kind, tag.as_str()?) {
        ("file", FILE_TYPE) => match map.remove("mode")?.as_str()? {
            "inline" => inline(from_map(map)?),
            "pointer" => pointer(from_map(map)?),
            _ => None,
        },
        ("chunk", CHUNK_TYPE) => chunk(from_map(map)?),
        ("need", NEED_TYPE) => need(from_map(map)?),
        _ => None,
    }
}

fn from_map<T: for<'de> Deserialize<'de>>(map: Map<String, Value>) -> Option<T> {
    serde_json::from_value(Value::Object(map)).ok()
}

fn inline(r: RawInline) -> Option<Attachment> {
    let data = decode_b64url(&r.data)?;
    let ok = valid_name(&r.name)
        && valid_mime(&r.mime)
        && usize::try_from(r.size).is_ok_and(|s| s <= MAX_INLINE && s == data.len())
        && r.sha256 == hex::encode(Sha256::digest(&data));
    ok.then_some(Attachment::Inline {
        name: r.name,
        mime: r.mime,
        data,
    })
}

fn pointer(r: RawPointer) -> Option<Attachment> {
    let size = usize::try_from(r.size).ok()?;
    let sha256 = parse_hex32(&r.sha256)?;
    let ok = valid_file_id(&r.file_id)
        && valid_name(&r.name)
        && valid_mime(&r.mime)
        && size > MAX_INLINE
        && size <= MAX_FILE
        && r.chunk_size == CHUNK_SIZE as u64
        && r.chunks == chunk_count(r.size);
    ok.then_some(Attachment::Pointer {
        file_id: r.file_id,
        name: r.name,
        mime: r.mime,
        size: r.size,
        sha256,
        chunks: r.chunks,
    })
}

fn chunk(r: RawChunk) -> Option<Attachment> {
    let data = decode_b64url(&r.data)?;
    let last = r.index + 1 == r.count;
    let ok = valid_file_id(&r.file_id)
        && (2..=MAX_CHUNKS as u64).contains(&r.count)
        && r.index < r.count
        && if last {
            (1..=CHUNK_SIZE).contains(&data.len())
        } else {
            data.len() == CHUNK_SIZE
        };
    ok.then_some(Attachment::Chunk {
        file_id: r.file_id,
        index: r.index,
        count: r.count,
        data,
    })
}

fn need(r: RawNeed) -> Option<Attachment> {
    let ok = valid_file_id(&r.file_id)
        && (1..=MAX_CHUNKS).contains(&r.missing.len())
        && r.missing.windows(2).all(|w| w[0] < w[1])
        && r.missing.iter().all(|&i| i < MAX_CHUNKS as u64);
    ok.then_some(Attachment::Need {
        file_id: r.file_id,
        missing: r.missing,
    })
}

/// Chunks of a file of `size` bytes: `ceil(size / CHUNK_SIZE)`.
#[must_use]
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_SIZE as u64)
}

/// Whether a client may render `mime` inline as an image (SPEC §13); every
/// other type is a download, whatever the bytes look like.
#[must_use]
pub fn renders_inline(mime: &str) -> bool {
    INLINE_IMAGE_TYPES.contains(&mime)
}

/// A file name: 1..=255 UTF-8 bytes, no `/`, `\`, control character
/// (C0, DEL, C1) or bidi/invisible character
/// ([`crate::text::is_spoofing_char`]), not `.` or `..`.
#[must_use]
pub fn valid_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control() || crate::text::is_spoofing_char(c))
}

/// A media type: lowercase `type/subtype`, each an RFC 6838
/// `restricted-name`, at most 127 bytes, no parameters.
#[must_use]
pub fn valid_mime(mime: &str) -> bool {
    mime.len() <= 127
        && mime
            .split_once('/')
            .is_some_and(|(t, s)| restricted_name(t) && restricted_name(s))
}

fn restricted_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$&-^_.+".contains(&b))
}

/// A file id: 22 chars of canonical b64url over 16 bytes.
#[must_use]
pub fn valid_file_id(id: &str) -> bool {
    id.len() == 22 && decode_b64url(id).is_some_and(|b| b.len() == 16)
}

/// Decodes unpadded b64url, refusing any non-canonical spelling (padding,
/// stray trailing bits), so every byte string has one encoding.
#[must_use]
pub fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
    (URL_SAFE_NO_PAD.encode(&bytes) == s).then_some(bytes)
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    super::identity::parse_lower_hex::<32>(s)
}

fn jcs_string(v: &Value) -> String {
    String::from_utf8(json::canonical_bytes(v)).unwrap_or_else(|_| unreachable!("JCS is UTF-8"))
}

/// The body of an inline `file` message (the caller keeps `data` ≤ [`MAX_INLINE`]).
#[must_use]
pub fn inline_body(name: &str, mime: &str, data: &[u8]) -> String {
    jcs_string(&json!({
        "type": FILE_TYPE, "mode": "inline", "name": name, "mime": mime,
        "size": data.len(), "sha256": hex::encode(Sha256::digest(data)),
        "data": URL_SAFE_NO_PAD.encode(data),
    }))
}

/// The body of a pointer `file` message for `data` (more than [`MAX_INLINE`] bytes).
#[must_use]
pub fn pointer_body(file_id: &str, name: &str, mime: &str, data: &[u8]) -> String {
    jcs_string(&json!({
        "type": FILE_TYPE, "mode": "pointer", "file_id": file_id, "name": name,
        "mime": mime, "size": data.len(), "sha256": hex::encode(Sha256::digest(data)),
        "chunks": data.len().div_ceil(CHUNK_SIZE), "chunk_size": CHUNK_SIZE,
    }))
}

/// The bodies of every `chunk` message of `data`, in index order.
#[must_use]
pub fn chunk_bodies(file_id: &str, data: &[u8]) -> Vec<String> {
    let count = data.len().div_ceil(CHUNK_SIZE);
    data.chunks(CHUNK_SIZE)
        .enumerate()
        .map(|(index, part)| {
            jcs_string(&json!({
                "type": CHUNK_TYPE, "file_id": file_id, "index": index,
                "count": count, "data": URL_SAFE_NO_PAD.encode(part),
            }))
        })
        .collect()
}

/// The body of a `need` message asking again for `missing` (ascending).
#[must_use]
pub fn need_body(file_id: &str, missing: &[u64]) -> String {
    jcs_string(&json!({"type": NEED_TYPE, "file_id": file_id, "missing": missing}))
}

#[cfg(test)]
mod tests;
