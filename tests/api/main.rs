//! Integration tests: the real router on 127.0.0.1:0 with a fresh SQLite
//! file per test, exercised over HTTP. No mocks. With
//! `KEZ_TEST_DATABASE=postgres` (scripts/test's second pass) every server
//! the helpers start stores in a fresh database of a real PostgreSQL
//! instead (`helpers::postgres`).

#![allow(unreachable_pub, clippy::needless_pass_by_value)]

mod copy_to_postgres;
mod crash;
mod cross_server;
mod deploy;
mod direct_stream;
mod ephemeral;
mod helpers;
mod http_edge;
mod inbox;
mod lifecycle;
mod logs;
mod mailbox;
mod messages;
mod metrics;
mod nats;
mod nats_callout;
mod nats_callout_ops;
mod nostr;
mod nostr_faults;
mod postgres;
mod profile;
mod proxy;
mod push;
mod registry;
mod request_edge;
mod robustness;
mod scale_out;
mod sender_keys;
mod sigchain;
mod silent_rate;
mod stream_budget;
mod supervision;
mod vectors;
mod web;
mod webfinger;
