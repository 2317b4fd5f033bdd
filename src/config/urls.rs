//! The value parsers of [`Config`](super::Config)'s URL flags
//! (`--sig-server-url`, `--nostr-relays`): refused at start-up rather than
//! at first use, with the flag's own wording.

/// Parses `--sig-server-url`: an `http://` or `https://` URL with a host and
/// no credentials, query or fragment; returned without a trailing `/`.
pub fn parse_base_url(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s.trim()).map_err(|e| format!("{s}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{s}: must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!(
            "{s}: needs a host and no credentials, query or fragment"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Validated nostr relay URLs, in the order given, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayList(pub Vec<String>);

/// Parses `--nostr-relays`: each comma-separated entry must be a `ws://` or
/// `wss://` URL with a host and no credentials or fragment; blanks are skipped.
pub fn parse_relays(s: &str) -> Result<RelayList, String> {
    let mut out: Vec<String> = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let url = url::Url::parse(entry).map_err(|e| format!("{entry}: {e}"))?;
        if !matches!(url.scheme(), "ws" | "wss") {
            return Err(format!(
                "{entry}: a relay URL must start with ws:// or wss://"
            ));
        }
        if url.host_str().is_none_or(str::is_empty)
            || !url.username().is_empty()
            || url.password().is_some()
            || url.fragment().is_some()
        {
            return Err(format!(
                "{entry}: a relay URL needs a host and no credentials or fragment"
            ));
        }
        let url = url.to_string();
        if !out.contains(&url) {
            out.push(url);
        }
    }
    Ok(RelayList(out))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::Config;

    #[test]
    fn sig_server_url_must_be_an_http_base_url() {
        assert_eq!(
            parse_base_url("https://sig.example.org/").unwrap(),
            "https://sig.example.org"
        );
        assert_eq!(
            parse_base_url("http://127.0.0.1:7878/chains").unwrap(),
            "http://127.0.0.1:7878/chains"
        );
        for bad in [
            "chat example org/",
            "sig.example.org",
            "ftp://sig.example.org",
            "https://user:pw@sig.example.org",
            "https://sig.example.org/?a=1",
            "https://sig.example.org/#x",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
        let ok = Config::try_parse_from(["kez", "--sig-server-url", "https://sig.example.org/"]);
        assert_eq!(
            ok.unwrap().sigchain_url("ab"),
            "https://sig.example.org/v1/sigchains/ed25519/ab"
        );
        assert!(Config::try_parse_from(["kez", "--sig-server-url", "chat example org/"]).is_err());
    }
}
