//! The shared client's connection pool stays bounded however many requests were once in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;
use crate::client::MAX_IDLE_CONNECTIONS_PER_ORIGIN;

/// Connections accepted, and those still open, on a server that answers every request after `delay`
/// (so that requests sent together are in flight together) and keeps the connection alive.
#[derive(Default)]
struct Connections {
    accepted: AtomicUsize,
    open: AtomicUsize,
}

async fn keep_alive_server(delay: Duration) -> (Url, Arc<Connections>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let connections = Arc::new(Connections::default());
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.accepted.fetch_add(1, Ordering::SeqCst);
            counted.open.fetch_add(1, Ordering::SeqCst);
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                loop {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                    while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        request.drain(..end + 4);
                        tokio::time::sleep(delay).await;
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n[]";
                        if socket.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                }
                counted.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (url, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_wider_than_the_pool_leaves_at_most_its_bound_of_idle_connections() {
    let (url, connections) = keep_alive_server(Duration::from_millis(1500)).await;
    let mut config = HttpConfig::new(url);
    config.rate_limit.requests_per_second = None;
    config.rate_limit.key = Some(format!("test-{}", fastrand::u64(..)));
    let client = Arc::new(HttpClient::new(config).unwrap());
    let burst = MAX_IDLE_CONNECTIONS_PER_ORIGIN + 44;
    let requests: Vec<_> = (0..burst)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.get(client.url(&format!("/x?i={i}")).unwrap()).await.map(|r| r.status) })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap(), 200);
    }
    assert_eq!(connections.accepted.load(Ordering::SeqCst), burst, "every request had a connection of its own");
    // The client closes the surplus as each response is done; give the server a moment to see them go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while connections.open.load(Ordering::SeqCst) > MAX_IDLE_CONNECTIONS_PER_ORIGIN
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(connections.open.load(Ordering::SeqCst), MAX_IDLE_CONNECTIONS_PER_ORIGIN);
}
