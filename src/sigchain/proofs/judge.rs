//! Judging a fetched statement (SPEC §15.4, §15.5) and reading a
//! request's `Cache-Control: no-cache`.

use axum::http::{HeaderMap, header};

use super::Fail;
use crate::kez::Identity;
use crate::kez::json::{self, JsonError};
use crate::kez::sigchain::{Claim, MAX_LINK_BYTES, verify_proof};

/// Whether the request's `Cache-Control` carries the `no-cache` directive
/// (RFC 9111 §5.2.1.4; a browser's `fetch(…, {cache: "reload"})` sends it).
pub(super) fn asks_no_cache(headers: &HeaderMap) -> bool {
    headers.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|d| {
                let d = d.trim();
                let name = d.split('=').next().unwrap_or(d).trim();
                name.eq_ignore_ascii_case("no-cache")
            })
        })
    })
}

/// Whether `bytes` is a statement proving `claim` of `primary`'s chain
/// (SPEC §15.4): at most 4096 bytes, strict JSON, [`verify_proof`], then
/// the key (`wrong_key`) and the service and name (`wrong_claim`, the name
/// ASCII case-insensitively). Surrounding whitespace is ignored.
pub(super) fn judge(bytes: &[u8], primary: &Identity, claim: &Claim) -> Result<(), Fail> {
    if bytes.len() > MAX_LINK_BYTES {
        return Err(Fail::failed("too_large"));
    }
    let value = json::parse_strict(bytes.trim_ascii()).map_err(|e| match e {
        JsonError::UnsafeNumber => Fail::bad_statement("unsafe_number"),
        JsonError::Invalid(_) => Fail::bad_statement("invalid_json"),
    })?;
    let st = verify_proof(&value).map_err(|e| Fail::bad_statement(e.code()))?;
    if st.primary != *primary {
        return Err(Fail::failed("wrong_key"));
    }
    if st.service != claim.service || !st.name.eq_ignore_ascii_case(&claim.name) {
        return Err(Fail::failed("wrong_claim"));
    }
    Ok(())
}
