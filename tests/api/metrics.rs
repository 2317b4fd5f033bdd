//! `/metrics` on its own listener: OpenMetrics text with real counts and no
//! identifiers.

use crate::helpers::*;

#[tokio::test]
async fn metrics_count_what_happened_without_naming_anyone() {
    // Arrange
    let app = spawn_app_with(|c| c.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let metrics_url = app.metrics_url();
    let bob = TestIdentity::generate();
    app.register(&bob, "zq7metricscanary").await;
    let _stream = app.open_stream(&bob, "zq7metricscanary", None).await;
    for _ in 0..3 {
        assert_eq!(app.send("zq7metricscanary", "x").await.status(), 201);
    }

    // Act
    let res = app.client.get(&metrics_url).send().await.unwrap();

    // Assert
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(value("kez_registrations_total"), 1.0);
    assert_eq!(value("kez_messages_stored_total"), 3.0);
    assert_eq!(value("kez_streams_open"), 1.0);
    assert_eq!(value("kez_stream_tasks"), 1.0);
    // Whatever the open stream still holds of the three events, in bytes.
    assert!((0.0..=16_384.0).contains(&value("kez_reader_held_bytes")));
    assert_eq!(value("kez_disk_low"), 0.0);
    assert!(value("kez_db_commits_total") >= 1.0);
    assert!(value("kez_db_write_jobs_total") >= 4.0);
    assert!(text.trim_end().ends_with("# EOF"));
    assert!(!text.contains("zq7metricscanary") && !text.contains(&bob.primary()));
    // Not on the public listener.
    assert_eq!(app.get("/metrics").await.status(), 404);
}
