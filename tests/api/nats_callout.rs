//! The NATS auth callout (SPEC §11 "Auth callout") against a real
//! nats-server 2.15 configured with `authorization { auth_callout { … } }`:
//! the kez server answers `$SYS.REQ.USER.AUTH` itself, admits instances by
//! their token and registered identities by their nkey, and nobody else.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use kez_chat_server::config::Config;
use kez_chat_server::nats::callout::{RequestError, keys};
use kez_chat_server::nats::fanout::{
    EPHEMERAL_EVENT, EVENT_HEADER, INSTANCE_HEADER, inbox_subject,
};
use nkeys::{KeyPair, KeyPairType};

use crate::helpers::*;
use crate::nats::{NatsServer, start_nats_with_config, wait_nats_ready};

/// A nats-server running the shipped deploy/nats.conf (its own listen and
/// no monitoring port), with secrets from the real generator, and the
/// secret files the kez servers of the test read.
pub(crate) struct Deployment {
    pub(crate) nats: NatsServer,
    dir: tempfile::TempDir,
}

/// Starts nats-server with deploy/nats.conf: accounts AUTH (the callout's
/// user `auth`), NONCE, APP, IDENTITIES and SYS, `auth_callout` naming a
/// fresh issuer, and `gen-nats-callout-keys`' include file.
pub(crate) async fn deployment() -> Option<Deployment> {
    let dir = tempfile::tempdir().unwrap();
    let issuer = keys::generate(&dir.path().join("secrets")).unwrap();
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nats.conf"),
    )
    .unwrap();
    let conf = dir.path().join("nats.conf");
    let text = shipped.replace("http: 0.0.0.0:8222\n", "");
    assert_ne!(text, shipped, "deploy/nats.conf names its monitoring port");
    std::fs::write(&conf, format!("NATS_CALLOUT_ISSUER: {issuer}\n{text}")).unwrap();
    let nats = start_nats_with_config(conf).await?;
    Some(Deployment { nats, dir })
}

impl Deployment {
    /// The same deployment after nats-server was killed and started again
    /// on the same port with the same configuration.
    pub(crate) async fn restart_nats(self) -> Self {
        Deployment {
            nats: self.nats.restart().await,
            dir: self.dir,
        }
    }

    /// Where the generated secrets are.
    pub(crate) fn secrets_dir(&self) -> PathBuf {
        self.dir.path().join("secrets")
    }

    /// The binary's flags for this NATS with the callout on.
    pub(crate) fn binary_args(&self) -> Vec<String> {
        let file = |n: &str| self.secrets_dir().join(n).to_str().unwrap().to_owned();
        vec![
            "--nats-url".to_owned(),
            self.nats.url.clone(),
            "--nats-callout-issuer-seed-file".to_owned(),
            file(keys::ISSUER_SEED_FILE),
            "--nats-callout-password-file".to_owned(),
            file(keys::PASSWORD_FILE),
            "--nats-instance-token-file".to_owned(),
            file(keys::TOKEN_FILE),
        ]
    }

    /// A generated secret (one of `keys::FILES`).
    pub(crate) fn secret(&self, name: &str) -> String {
        let path = self.dir.path().join("secrets").join(name);
        std::fs::read_to_string(path).unwrap().trim().to_owned()
    }

    /// Points `c` at this NATS with the callout on, sending the token in
    /// `token_file` (under the secrets directory).
    pub(crate) fn configure(&self, c: &mut Config, token_file: &str) {
        let file = |n: &str| Some(self.dir.path().join("secrets").join(n));
        c.nats_url = Some(self.nats.url.clone());
        c.nats_auth.nats_callout_issuer_seed_file = file(keys::ISSUER_SEED_FILE);
        c.nats_auth.nats_callout_password_file = file(keys::PASSWORD_FILE);
        c.nats_auth.nats_instance_token_file = file(token_file);
    }

    /// A kez server answering the callout (identities admitted if
    /// `identities`), its fan-out admitted and subscribed.
    pub(crate) async fn instance_with(
        &self,
        db: Option<PathBuf>,
        edit: impl FnOnce(&mut Config),
    ) -> TestApp {
        let app = spawn_app_with(|c| {
            self.configure(c, keys::TOKEN_FILE);
            if let Some(db) = db {
                c.db = db;
            }
            edit(c);
        })
        .await;
        wait_callout_ready(&app).await;
        wait_nats_ready(&app).await;
        app
    }

    /// [`Self::instance_with`] with the defaults (identities off).
    pub(crate) async fn instance(&self, db: Option<PathBuf>) -> TestApp {
        self.instance_with(db, |_| {}).await
    }

    /// An instance with `--nats-callout-identities`.
    async fn with_identities(&self) -> TestApp {
        self.instance_with(None, |c| c.nats_auth.nats_callout_identities = true)
            .await
    }
}

pub(crate) async fn wait_callout_ready(app: &TestApp) {
    let stats = app.state().callout.clone().expect("callout on");
    within(10, "the auth callout to be ready", stats.ready()).await;
}

/// A client connected as `id`'s KEZ key (its seed as a user nkey), and the
/// server errors (permission violations) reported to it.
pub(crate) async fn connect_as(
    nats: &NatsServer,
    id: &TestIdentity,
) -> Result<(async_nats::Client, Arc<Mutex<Vec<String>>>), async_nats::ConnectError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seed = KeyPair::new_from_raw(KeyPairType::User, id.sk.to_bytes())
        .unwrap()
        .seed()
        .unwrap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = errors.clone();
    let client = async_nats::ConnectOptions::with_nkey(seed)
        .event_callback(move |event| {
            if let async_nats::Event::ServerError(e) = event {
                sink.lock().unwrap().push(e.to_string());
            }
            async {}
        })
        .connect(nats.url.as_str())
        .await?;
    Ok((client, errors))
}

async fn wait_error(errors: &Mutex<Vec<String>>, what: &str) {
    wait_for(10, what, async || {
        errors
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.to_lowercase().contains(what))
    })
    .await;
}

pub(crate) fn assert_refused(res: Result<impl Sized, async_nats::ConnectError>) {
    match res {
        Ok(_) => panic!("nats-server admitted the client"),
        Err(e) => assert!(
            e.to_string()
                .to_lowercase()
                .contains("authorization violation"),
            "{e}"
        ),
    }
}

#[tokio::test]
async fn fanout_between_two_instances_works_through_the_callout() {
    let Some(d) = deployment().await else { return };
    // Arrange: two instances admitted by the callout, bob streaming on B.
    let a = d.instance(None).await;
    let b = d.instance(Some(a.config.db.clone())).await;
    let bob = a.user("bob").await;
    let mut stream = b.open_stream(&bob, "bob", None).await;

    // Act
    assert_eq!(a.send("bob", "through the callout").await.status(), 201);

    // Assert
    let m = next_message(&mut stream).await;
    assert_eq!(m["envelope"]["ct"], "through the callout");
    let admitted = |app: &TestApp| {
        let c = app.state().callout.clone().unwrap();
        c.decisions
            .instance
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert!(admitted(&a) + admitted(&b) >= 2);
    let metrics = kez_chat_server::metrics::render(a.state());
    let line = format!(
        "kez_nats_callout_decisions_total{{outcome=\"instance\"}} {}\n",
        admitted(&a)
    );
    assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    assert!(metrics.contains("kez_nats_callout_ready 1"));
    assert!(metrics.contains("kez_nats_callout_answer_seconds_count"));
}

#[tokio::test]
async fn a_wrong_instance_token_is_refused() {
    let Some(d) = deployment().await else { return };
    let app = d.instance(None).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = d.nats.url.as_str();

    let wrong = async_nats::ConnectOptions::with_token("not-the-token".to_owned())
        .connect(url)
        .await;
    let none = async_nats::connect(url).await;
    let password = async_nats::ConnectOptions::with_user_and_password("x".into(), "y".into())
        .connect(url)
        .await;

    assert_refused(wrong);
    assert_refused(none);
    assert_refused(password);
    let c = app.state().callout.clone().unwrap();
    assert_eq!(c.decisions.refused_for(RequestError::BadToken), 1);
    assert_eq!(c.decisions.refused_for(RequestError::NoCredentials), 2);
    let metrics = kez_chat_server::metrics::render(app.state());
    for line in [
        "{outcome=\"refused\",reason=\"bad_token\"} 1\n",
        "{outcome=\"refused\",reason=\"no_credentials\"} 2\n",
    ] {
        let line = format!("kez_nats_callout_decisions_total{line}");
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
}

/// Identities are off by default (`--nats-callout-identities`): a
/// registered key with a valid nonce signature is refused.
#[tokio::test]
async fn identities_are_refused_unless_turned_on() {
    let Some(d) = deployment().await else { return };
    let app = d.instance(None).await;
    let bob = app.user("bob").await;

    assert_refused(connect_as(&d.nats, &bob).await);

    let c = app.state().callout.clone().unwrap();
    assert_eq!(c.decisions.refused_for(RequestError::IdentitiesOff), 1);
    assert_eq!(c.decisions.identity.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_identity_reads_its_own_inbox_subject_and_nothing_else() {
    let Some(d) = deployment().await else { return };
    // Arrange: bob connects with his KEZ key; carol is another user.
    let app = d.with_identities().await;
    let bob = app.user("bob").await;
    app.user("carol").await;
    let (client, errors) = connect_as(&d.nats, &bob).await.expect("bob admitted");
    let mut own = client
        .subscribe(inbox_subject(SERVER, "bob"))
        .await
        .unwrap();
    client.flush().await.unwrap();

    // Act: a message to bob, then a subscription to carol's subject.
    assert_eq!(app.send("bob", "for bob").await.status(), 201);
    let mut other = client
        .subscribe(inbox_subject(SERVER, "carol"))
        .await
        .unwrap();
    let mut all = client.subscribe("kez.chat.inbox.>").await.unwrap();
    let mut any = client.subscribe("kez.chat.inbox.*").await.unwrap();
    let _ = client.flush().await;
    assert_eq!(app.send("carol", "for carol").await.status(), 201);

    // Assert: bob's wake-up arrives; carol's subject and both wildcards are
    // refused and silent.
    let m = within(10, "bob's NATS message", own.next()).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(body["envelope"]["ct"], "for bob");
    for subject in [
        inbox_subject(SERVER, "carol"),
        "kez.chat.inbox.>".into(),
        "kez.chat.inbox.*".into(),
    ] {
        wait_for(10, "a refused subscription", async || {
            errors.lock().unwrap().iter().any(|e| {
                let e = e.to_lowercase();
                e.contains("permissions violation for subscription") && e.contains(&subject)
            })
        })
        .await;
    }
    for sub in [&mut other, &mut all, &mut any] {
        let got = tokio::time::timeout(Duration::from_millis(500), sub.next()).await;
        assert!(
            !matches!(got, Ok(Some(_))),
            "a refused subscription got a message"
        );
    }
}

#[tokio::test]
async fn an_identity_cannot_show_streams_an_ephemeral_event() {
    let Some(d) = deployment().await else { return };
    // Arrange: bob's stream open; bob (or whoever holds a registered key)
    // on NATS tries the injection of TODO #173.
    let app = d.with_identities().await;
    let bob = app.user("bob").await;
    let mut stream = app.open_stream(&bob, "bob", None).await;
    let (client, errors) = connect_as(&d.nats, &bob).await.expect("bob admitted");

    // Act
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(INSTANCE_HEADER, "0123456789abcdef0123456789abcdef");
    headers.insert(EVENT_HEADER, EPHEMERAL_EVENT);
    let forged = serde_json::json!({"id": random_id(), "envelope": {"v": 2, "ct": "FORGED"}});
    let payload = serde_json::to_vec(&forged).unwrap();
    client
        .publish_with_headers(inbox_subject(SERVER, "bob"), headers, payload.into())
        .await
        .unwrap();
    let _ = client.flush().await;
    wait_error(&errors, "permissions violation for publish").await;
    assert_eq!(app.send("bob", "real").await.status(), 201);

    // Assert: the first event bob's stream shows is the real message.
    let ev = within(10, "an event", stream.next()).await.unwrap();
    assert_eq!(ev.event, "message", "got {ev:?}");
    assert!(!ev.data.contains("FORGED"));
}

#[tokio::test]
async fn an_unregistered_key_is_refused() {
    let Some(d) = deployment().await else { return };
    let app = d.with_identities().await;
    app.user("bob").await;

    let stranger = TestIdentity::generate();

    assert_refused(connect_as(&d.nats, &stranger).await);
    let c = app.state().callout.clone().unwrap();
    assert_eq!(c.decisions.identity.load(Ordering::Relaxed), 0);
    assert_eq!(c.decisions.refused_for(RequestError::UnknownIdentity), 1);
}

/// A seed file holding another kind of nkey seed stops the start with an
/// error naming the flag and the file, never the seed (review item 15).
#[tokio::test]
async fn a_wrong_seed_file_is_named_in_the_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let user_seed = KeyPair::new_user().seed().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let mut config = test_config(&dir);
    config.nats_url = Some("nats://127.0.0.1:1".to_owned());
    let seed = write("issuer.seed", &user_seed);
    config.nats_auth.nats_callout_issuer_seed_file = Some(seed.clone());
    config.nats_auth.nats_callout_password_file = Some(write("pw", "pw"));
    config.nats_auth.nats_instance_token_file = Some(write("token", "token"));

    let err = kez_chat_server::server::start(config)
        .await
        .err()
        .expect("start must fail");

    let err = format!("{err:#}");
    assert!(err.contains("--nats-callout-issuer-seed-file"), "{err}");
    assert!(err.contains(seed.to_str().unwrap()), "{err}");
    assert!(err.contains("not an account nkey seed"), "{err}");
    assert!(!err.contains(&user_seed), "{err}");
}
