//! The registry helpers every figure group uses: one scrape builds a fresh
//! [`Registry`] of plain values read from their owners, so these only wrap
//! a value in a counter or gauge and register it.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Registers one counter holding `value`.
pub(super) fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

/// Registers one gauge holding `value`.
pub(super) fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    registry.register(name, help, g);
}

/// Reads a handler-bumped counter (relaxed: figures need no ordering).
pub(super) fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Registers one counter per `(name, help, value)`, in order.
pub(super) fn counters(registry: &mut Registry, rows: &[(&str, &str, u64)]) {
    for &(name, help, value) in rows {
        counter(registry, name, help, value);
    }
}

/// A count as a gauge value, saturating (a gauge is signed).
pub(super) fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
