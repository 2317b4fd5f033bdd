//! NATS integration (SPEC §11): cross-instance fan-out of new messages
//! (`fanout`, enabled by `--nats-url`), and the auth callout that decides
//! who may connect to the deployment's nats-server (`callout`, enabled by
//! `--nats-callout-issuer-seed-file`). nats-server calls out over NATS
//! request/reply on `$SYS.REQ.USER.AUTH`, not HTTP, so there is no HTTP
//! endpoint (the old `POST /internal/nats/auth` placeholder is gone).

pub mod callout;
pub mod fanout;
