//! Unit tests of the push endpoint policy: hosts, schemes, addresses, the SSRF-guarding resolver.

use super::*;
use crate::config::DEFAULT_PUSH_HOSTS;

#[test]
fn address_filter_table() {
    let cases: &[(&str, bool)] = &[
        // IPv4
        ("8.8.8.8", true),
        ("142.250.74.202", true),
        ("100.63.255.255", true),
        ("100.128.0.1", true),
        ("172.15.0.1", true),
        ("172.32.0.1", true),
        ("0.0.0.0", false),
        ("0.1.2.3", false),
        ("10.0.0.1", false),
        ("127.0.0.1", false),
        ("127.255.255.254", false),
        ("100.64.0.1", false),
        ("169.254.169.254", false),
        ("172.16.0.1", false),
        ("172.31.255.255", false),
        ("192.0.0.8", false),
        ("192.0.2.1", false),
        ("192.168.1.1", false),
        ("198.18.0.1", false),
        ("198.51.100.7", false),
        ("203.0.113.9", false),
        ("224.0.0.1", false),
        ("240.0.0.1", false),
        ("255.255.255.255", false),
        // IPv6
        ("2607:f8b0:4004:c07::5f", true),
        ("2a00:1450:4001:82b::200a", true),
        ("2001:4860:4860::8888", true),
        ("::", false),
        ("::1", false),
        ("fe80::1", false),
        ("febf::1", false),
        ("fec0::1", false),
        ("fc00::1", false),
        ("fd12:3456:789a::1", false),
        ("ff02::1", false),
        ("2001:db8::1", false),
        ("2001::1", false),
        ("3fff::1", false),
        ("100::1", false),
        ("64:ff9b:1::1", false),
        // IPv6 forms embedding IPv4
        ("::ffff:127.0.0.1", false),
        ("::ffff:10.1.2.3", false),
        ("::ffff:169.254.169.254", false),
        ("::ffff:8.8.8.8", true),
        ("::127.0.0.1", false),
        ("::8.8.8.8", false),
        ("64:ff9b::7f00:1", false),
        ("64:ff9b::808:808", true),
        ("2002:7f00:1::1", false),
        ("2002:c0a8:101::1", false),
        ("2002:808:808::1", true),
    ];
    for (ip, public) in cases {
        let parsed: IpAddr = ip.parse().unwrap();
        assert_eq!(is_public_ip(parsed), *public, "{ip}");
    }
}

#[tokio::test]
async fn resolver_refuses_names_with_only_local_addresses() {
    use reqwest::dns::Resolve as _;
    let name: reqwest::dns::Name = "localhost".parse().unwrap();
    let err = PublicOnlyResolver.resolve(name).await.err().unwrap();
    assert!(err.is::<NoPublicAddress>(), "{err}");
}

#[test]
fn a_mixed_name_keeps_its_public_addresses_unless_strict() {
    let addr = |s: &str| SocketAddr::new(s.parse().unwrap(), 0);
    let mixed = vec![addr("8.8.8.8"), addr("127.0.0.1")];
    let public = vec![addr("8.8.8.8"), addr("2001:4860:4860::8888")];

    assert_eq!(
        public_addresses(mixed.clone(), false),
        Some(vec![addr("8.8.8.8")])
    );
    assert_eq!(
        public_addresses(mixed, true),
        None,
        "the proof checker refuses it whole"
    );
    assert_eq!(public_addresses(public.clone(), true), Some(public));
    assert_eq!(public_addresses(vec![addr("10.0.0.1")], false), None);
    assert_eq!(public_addresses(Vec::new(), false), None);
}

#[tokio::test]
async fn the_production_client_filters_resolution_and_requires_https() {
    use super::super::sender::{build_client, is_refused_address};
    let client = build_client(false).unwrap();
    let err = client
        .post("https://localhost:9/push")
        .send()
        .await
        .unwrap_err();
    assert!(is_refused_address(&err), "{err:?}");
    let err = client
        .post("http://localhost:9/push")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_builder() && !is_refused_address(&err), "{err:?}");
    // The test client resolves normally: the refusal came from the filter.
    let err = build_client(true)
        .unwrap()
        .post("http://localhost:9/push")
        .send()
        .await
        .unwrap_err();
    assert!(!is_refused_address(&err), "{err:?}");
}

#[test]
fn only_listed_push_services_are_allowed() {
    let hosts = PushHosts::parse(DEFAULT_PUSH_HOSTS);
    let ok = |u: &str| hosts.allows(&Url::parse(u).unwrap());
    assert!(ok("https://fcm.googleapis.com/fcm/send/abc:def"));
    assert!(ok(
        "https://updates.push.services.mozilla.com/wpush/v2/gAAA"
    ));
    assert!(ok("https://web.push.apple.com/QO2b"));
    assert!(ok("https://wns2-by3p.notify.windows.com/w/?token=x"));
    assert!(ok("https://FCM.googleapis.com./x"));
    assert!(!ok("https://evil.example.com/fcm.googleapis.com"));
    assert!(!ok("https://fcm.googleapis.com.evil.example/x"));
    assert!(!ok("https://evilpush.apple.com/x"));
    assert!(
        !ok("https://push.apple.com/x"),
        "the bare suffix is not a subdomain"
    );
    assert!(!ok("https://googleapis.com/x"));
    assert!(!ok("https://8.8.8.8/x"));
    let any = PushHosts::parse(" * ");
    assert!(any.allows(&Url::parse("https://push.example.com/x").unwrap()));
    let own = PushHosts::parse("push.example.com, *.corp.example");
    assert!(own.allows(&Url::parse("https://push.example.com/x").unwrap()));
    assert!(own.allows(&Url::parse("https://a.b.corp.example/x").unwrap()));
    assert!(!own.allows(&Url::parse("https://fcm.googleapis.com/x").unwrap()));
}

#[test]
fn endpoint_validation_table() {
    use EndpointError::*;
    let long = format!("https://push.example.com/{}", "a".repeat(2048));
    let cases: &[(&str, bool, Result<(), EndpointError>)] = &[
        ("https://fcm.googleapis.com/fcm/send/abc:def", false, Ok(())),
        (
            "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
            false,
            Ok(()),
        ),
        ("https://web.push.apple.com/QGuQ", false, Ok(())),
        ("https://push.example.com:8443/x", false, Ok(())),
        ("https://8.8.8.8/x", false, Ok(())),
        ("https://[2001:4860:4860::8888]/x", false, Ok(())),
        ("http://push.example.com/x", false, Err(NotHttps)),
        ("http://127.0.0.1:3000/x", true, Ok(())),
        ("http://localhost/x", true, Ok(())),
        ("ftp://push.example.com/x", true, Err(NotHttps)),
        ("wss://push.example.com/x", false, Err(NotHttps)),
        ("not a url", false, Err(NotAUrl)),
        ("/relative/path", false, Err(NotAUrl)),
        ("", false, Err(NotAUrl)),
        (
            "https://user:pw@push.example.com/x",
            false,
            Err(Credentials),
        ),
        ("https://user@push.example.com/x", true, Err(Credentials)),
        ("https://push.example.com/x#frag", false, Err(Credentials)),
        ("https://127.0.0.1/x", false, Err(PrivateHost)),
        ("https://2130706433/x", false, Err(PrivateHost)),
        ("https://0x7f.1/x", false, Err(PrivateHost)),
        ("https://10.0.0.5/x", false, Err(PrivateHost)),
        ("https://169.254.169.254/latest", false, Err(PrivateHost)),
        ("https://[::1]/x", false, Err(PrivateHost)),
        ("https://[::ffff:127.0.0.1]/x", false, Err(PrivateHost)),
        ("https://[fd00::1]/x", false, Err(PrivateHost)),
        ("https://[fe80::1]/x", false, Err(PrivateHost)),
        ("https://localhost/x", false, Err(PrivateHost)),
        ("https://LOCALHOST./x", false, Err(PrivateHost)),
        ("https://api.localhost/x", false, Err(PrivateHost)),
        ("https://printer.local/x", false, Err(PrivateHost)),
        (
            "https://metadata.google.internal/x",
            false,
            Err(PrivateHost),
        ),
        ("https://intranet/x", false, Err(PrivateHost)),
        (&long, true, Err(TooLong)),
    ];
    for (endpoint, insecure, want) in cases {
        let got = validate(endpoint, *insecure).map(|_| ());
        assert_eq!(got, *want, "{endpoint} (insecure: {insecure})");
    }
}
