//! Every configuration in `examples/` parses and builds (as `logcrawl validate` does).

use std::sync::Arc;

use logcrawl::app::build_crawler;
use logcrawl::config::Config;
use logcrawl_core::MemoryCheckpointStore;

#[test]
fn every_example_configuration_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let env = |name: &str| match name {
            // A service account key file's contents: the simulator's test-only key.
            "GOOGLE_WORKSPACE_CREDENTIALS" => Some(logcrawl_sim::google_workspace::service_account_key(
                "https://oauth2.googleapis.com/token",
                logcrawl_sim::google_workspace::TEST_PRIVATE_KEY,
            )),
            _ => Some(format!("example-secret-for-{name}")),
        };
        let config = Config::parse(&text, &env).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        build_crawler(&config, Arc::new(MemoryCheckpointStore::new()))
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} examples found");
}
