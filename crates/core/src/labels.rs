//! Which stream the current task works for, so code far from the crawler (the HTTP client, a sink, a
//! token fetch) can label what it measures with the source and stream without every call passing them.
//!
//! The crawler runs each stream's runs inside [`scope`]; a task spawned on a stream's behalf (a page
//! prefetch) carries the labels over with [`propagate`]. Outside any stream (a test calling a client
//! directly, `logcrawl validate`), [`current`] is `None` and metrics are labelled with an empty source.
//! This is the same information as the `stream{source, stream}` tracing span, kept where it can be read
//! cheaply: a task-local, not a lookup in the subscriber.

use std::future::Future;
use std::sync::Arc;

/// The source and stream a task works for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLabels {
    /// The configured source name.
    pub source: Arc<str>,
    /// The stream's name.
    pub stream: Arc<str>,
}

tokio::task_local! {
    static CURRENT: StreamLabels;
}

/// The labels of the stream the current task works for, if any.
pub fn current() -> Option<StreamLabels> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `future` as working for the stream `labels` names.
pub async fn scope<F: Future>(labels: StreamLabels, future: F) -> F::Output {
    CURRENT.scope(labels, future).await
}

/// `future`, carrying the current task's labels (if any) into wherever it is spawned.
pub fn propagate<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let labels = current();
    async move {
        match labels {
            Some(labels) => CURRENT.scope(labels, future).await,
            None => future.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn labels_reach_spawned_tasks_only_when_propagated() {
        assert_eq!(current(), None);
        let labels = StreamLabels { source: Arc::from("okta"), stream: Arc::from("logs") };
        let (carried, lost) = scope(labels.clone(), async {
            let carried = tokio::spawn(propagate(async { current() }));
            let lost = tokio::spawn(async { current() });
            (carried.await.unwrap(), lost.await.unwrap())
        })
        .await;
        assert_eq!(carried, Some(labels));
        assert_eq!(lost, None);
    }
}
