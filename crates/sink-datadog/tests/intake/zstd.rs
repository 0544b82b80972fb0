//! `compression = "zstd"`: what goes on the wire, the limits it is cut by (the uncompressed JSON), the
//! halves of a refused request, and the simulated intake decoding it end to end.

use logcrawl_sim::datadog::DatadogIntake;

use super::*;

fn zstd_sink(server: &MockServer, level: Option<u32>) -> DatadogSink {
    sink_with(server, |c| {
        c.compression = Compression::Zstd;
        c.compression_level = level;
    })
}

#[tokio::test]
async fn sends_zstd_json_with_its_header() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    for level in [None, Some(1), Some(19)] {
        server.reset().await;
        mount_accepting(&server).await;
        let delivery = zstd_sink(&server, level).send(batch(numbered(3))).await.unwrap();
        assert_eq!(delivery, Delivery::accepted(3));
        let sent = requests(&server).await;
        assert_eq!(sent.len(), 1);
        let request = &sent[0];
        assert_eq!(request.headers.get("content-encoding").unwrap(), "zstd", "{level:?}");
        assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
        assert_eq!(request.headers.get("dd-api-key").unwrap(), KEY);
        assert_eq!(request.body[..4], [0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
        // Decoded here with the zstd library itself, not through the shared helper.
        let plain: Value = serde_json::from_slice(&::zstd::decode_all(&request.body[..]).unwrap()).unwrap();
        let messages: Vec<_> = plain.as_array().unwrap().iter().map(|e| e["message"].clone()).collect();
        assert_eq!(messages, [json!("event 0"), json!("event 1"), json!("event 2")]);
        assert_eq!(plain[1]["ddsource"], "acme");
        assert_eq!(plain[1]["i"], 1);
    }
}

#[tokio::test]
async fn zstd_requests_are_cut_by_their_uncompressed_size() {
    let server = MockServer::start().await;
    mount_accepting(&server).await;
    let blob = "x".repeat(100_000);
    let records: Vec<_> = (0..60).map(|i| record(json!({"message": blob, "i": i}))).collect();
    let delivery = zstd_sink(&server, None).send(batch(records)).await.unwrap();
    assert_eq!(delivery, Delivery::accepted(60));
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2, "6 MB of JSON go in two requests, however small the zstd");
    for request in &sent {
        assert_eq!(request.headers.get("content-encoding").unwrap(), "zstd");
        assert!(plain_len(request) <= 4_250_000, "{}", plain_len(request));
        assert!(request.body.len() < 20_000, "and compressed: {}", request.body.len());
    }
    let mut seen: Vec<u64> = sent.iter().flat_map(entries).map(|e| e["i"].as_u64().unwrap()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..60).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_halves_of_a_refused_zstd_request_are_zstd_too() {
    let server = MockServer::start().await;
    refuse_more_than_two_entries(&server).await;
    // Entries large enough for the halves to be compressed on the blocking pool.
    let blob = "y".repeat(40_000);
    let records: Vec<_> = (0..8).map(|i| record(json!({"message": format!("{i} {blob}"), "i": i}))).collect();
    let delivery = zstd_sink(&server, Some(3)).send(batch(records)).await.unwrap();
    assert_eq!(delivery, Delivery::accepted(8));
    let sent = requests(&server).await;
    assert!(sent.iter().all(|r| r.headers.get("content-encoding").unwrap() == "zstd" && r.body[0] == 0x28));
    let mut delivered: Vec<u64> =
        sent.iter().filter(|r| entries(r).len() <= 2).flat_map(entries).map(|e| e["i"].as_u64().unwrap()).collect();
    delivered.sort_unstable();
    assert_eq!(delivered, (0..8).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_simulated_intake_decodes_zstd_end_to_end() {
    let intake = DatadogIntake::builder().api_key(KEY).start().await.unwrap();
    let config = DatadogConfig {
        endpoint: Some(intake.base_url().to_owned()),
        api_key: Some(SecretString::from(KEY)),
        compression: Compression::Zstd,
        ..DatadogConfig::default()
    };
    let sink = DatadogSink::new(config, &context()).unwrap();
    let records: Vec<_> = (0..2500)
        .map(|i| record(json!({"message": format!("event {i}"), "id": format!("{i:06}"), "timestamp": now_seconds()})))
        .collect();
    assert_eq!(sink.send(batch(records)).await.unwrap(), Delivery::accepted(2500));
    let stats = intake.stats();
    assert_eq!((stats.accepted_requests, stats.entries, stats.refused_requests), (3, 2500, 0));
    assert_eq!((stats.distinct_ids, stats.repeated_ids), (2500, 0));
    assert!(
        stats.wire_bytes * 5 < stats.json_bytes,
        "{} wire bytes for {} of JSON",
        stats.wire_bytes,
        stats.json_bytes
    );
}
