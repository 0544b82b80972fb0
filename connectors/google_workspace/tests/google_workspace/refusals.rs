//! Google's refusals end a run with what to check, fatal, and no secret in the message: a subject that
//! may not read reports (403 `forbidden`), a delegation that does not grant the scope
//! (`unauthorized_client`), a subject that is not the customer's administrator (`invalid_grant`).

use std::sync::Arc;

use logcrawl_core::MemoryCheckpointStore;
use logcrawl_sim::google_workspace::{GoogleWorkspaceSim, GoogleWorkspaceSimBuilder};
use logcrawl_testkit::RecordingSink;

use super::{crawler, on_sim};

/// The failures of one run over `sim` built from `builder`, as `(fatal, message)` per stream.
async fn failures(builder: GoogleWorkspaceSimBuilder) -> (GoogleWorkspaceSim, Vec<(bool, String)>) {
    let sim = builder.events(50).start().await.unwrap();
    let connector =
        on_sim(&sim, "applications = [\"login\", \"admin\"]\ninitial_lookback = \"30m\"\nsettle_lag = \"0s\"");
    let store = Arc::new(MemoryCheckpointStore::new());
    let sink = Arc::new(RecordingSink::new());
    let report = crawler(&store, connector, &sink).run_once().await;
    let failures = report.failures().map(|(_, f)| (f.fatal, f.message.clone())).collect();
    assert!(sink.delivered().is_empty());
    (sim, failures)
}

fn assert_clean(message: &str) {
    for secret in ["PRIVATE KEY", "MII", "ya29.", "eyJ"] {
        assert!(!message.contains(secret), "a secret in: {message}");
    }
}

#[tokio::test]
async fn a_subject_without_the_reports_privilege_is_fatal_saying_so() {
    let (sim, failures) = failures(GoogleWorkspaceSim::builder().without_permission()).await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    for (fatal, message) in failures {
        assert!(fatal, "{message}");
        assert!(message.contains("403") && message.contains("Reports privilege"), "{message}");
        assert_clean(&message);
    }
    assert_eq!(sim.requests(), 2, "one request a stream, no retry");
}

#[tokio::test]
async fn a_scope_not_delegated_is_fatal_naming_domain_wide_delegation() {
    let (sim, failures) = failures(GoogleWorkspaceSim::builder().without_delegation()).await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    for (fatal, message) in failures {
        assert!(fatal, "{message}");
        assert!(
            message.contains("unauthorized_client") && message.contains("Manage domain-wide delegation"),
            "{message}"
        );
        assert!(message.contains("admin.reports.audit.readonly"), "{message}");
        assert_clean(&message);
    }
    assert_eq!(sim.requests(), 0, "no list request without a token");
}

#[tokio::test]
async fn another_subject_is_fatal_naming_the_subject() {
    let (_sim, failures) = failures(GoogleWorkspaceSim::builder().subject("someone-else@example.com")).await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    for (fatal, message) in failures {
        assert!(fatal, "{message}");
        assert!(message.contains("invalid_grant") && message.contains("Invalid email or User ID"), "{message}");
        assert!(message.contains("subject must be the email of an administrator"), "{message}");
        assert_clean(&message);
    }
}
