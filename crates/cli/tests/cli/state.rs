//! `logcrawl state reset|set`: what they delete or store, and when they refuse.

use std::path::Path;

use logcrawl_core::{CheckpointStore, FileCheckpointStore, StreamKey};
use logcrawl_sim::acme::{AcmeSim, AcmeSimConfig};
use serde_json::{Value, json};

use super::{command, lines, runtime, text, write_config};

const STREAM: &str = "ACME log stream";

/// A configuration for an ACME source that is never contacted, and a checkpoint store on its state
/// directory holding `cursors` of `acme-demo`.
fn configured_with(dir: &Path, cursors: &[(&str, Value)]) -> FileCheckpointStore {
    write_config(dir, "http://127.0.0.1:9");
    let store = FileCheckpointStore::open_shared(dir.join("state"));
    for (stream, cursor) in cursors {
        store.commit(&StreamKey::new("acme-demo", *stream), cursor).unwrap();
    }
    store
}

fn state(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["state"];
    all.extend_from_slice(args);
    command(dir, "k", &all).output().unwrap()
}

fn stored(store: &FileCheckpointStore, stream: &str) -> Option<Value> {
    store.load(&StreamKey::new("acme-demo", stream)).unwrap()
}

#[test]
fn reset_refuses_without_a_terminal_unless_yes_and_then_deletes_every_stream_of_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = configured_with(dir.path(), &[(STREAM, json!({"after": "000000000750"})), ("audit", json!(7))]);
    store.commit(&StreamKey::new("other-source", "s"), &json!(1)).unwrap();

    let refused = state(dir.path(), &["reset", "-c", "logcrawl.toml", "acme-demo"]);
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("not a terminal") && stderr.contains("pass --yes"), "{stderr}");
    assert_eq!(stored(&store, STREAM), Some(json!({"after": "000000000750"})), "nothing deleted without --yes");

    let reset = state(dir.path(), &["reset", "-c", "logcrawl.toml", "acme-demo", "--yes"]);
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    let shown = text(&reset.stdout);
    assert!(shown.contains("acme-demo/ACME log stream\t{\"after\":\"000000000750\"}"), "{shown}");
    assert!(shown.contains("acme-demo/audit\t7") && shown.contains("initial lookback"), "{shown}");
    assert_eq!((stored(&store, STREAM), stored(&store, "audit")), (None, None));
    assert!(!store.path_for(&StreamKey::new("acme-demo", STREAM)).unwrap().exists());
    assert_eq!(store.list().unwrap(), vec![(StreamKey::new("other-source", "s"), json!(1))], "other sources stay");
}

#[test]
fn reset_of_one_stream_leaves_the_others_and_an_unknown_stream_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = configured_with(dir.path(), &[(STREAM, json!({"after": "1"})), ("audit", json!(7))]);
    // `-c` after the subcommand's arguments works too.
    let reset = state(dir.path(), &["reset", "acme-demo", STREAM, "-y", "-c", "logcrawl.toml"]);
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    assert_eq!((stored(&store, STREAM), stored(&store, "audit")), (None, Some(json!(7))));

    let typo = state(dir.path(), &["-c", "logcrawl.toml", "reset", "acme-demo", "aduit", "--yes"]);
    assert!(!typo.status.success());
    let stderr = text(&typo.stderr);
    assert!(
        stderr.contains("acme-demo/aduit") && stderr.contains("stored streams of \"acme-demo\": audit"),
        "{stderr}"
    );
    assert_eq!(stored(&store, "audit"), Some(json!(7)));

    let unknown = state(dir.path(), &["reset", "-c", "logcrawl.toml", "acme-dmeo", "--yes"]);
    assert!(!unknown.status.success());
    let stderr = text(&unknown.stderr);
    assert!(stderr.contains("no source named \"acme-dmeo\" (configured: acme-demo)"), "{stderr}");
}

#[test]
fn reset_and_set_refuse_while_a_daemon_holds_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = configured_with(dir.path(), &[(STREAM, json!({"after": "1"}))]);
    // The lock `logcrawl run` takes, held here by the test process.
    let _daemon = FileCheckpointStore::open(dir.path().join("state")).unwrap();
    for args in [
        &["reset", "-c", "logcrawl.toml", "acme-demo", "--yes"][..],
        &["set", "-c", "logcrawl.toml", "acme-demo", STREAM, "{\"after\": \"2\"}", "--yes"][..],
    ] {
        let output = state(dir.path(), args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains("in use by another logcrawl process") && stderr.contains("stop it first"), "{stderr}");
        assert_eq!(stored(&store, STREAM), Some(json!({"after": "1"})), "{args:?}");
    }
}

#[test]
fn set_shows_the_old_and_new_cursor_and_stores_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = configured_with(dir.path(), &[(STREAM, json!({"after": "000000000750"}))]);
    let args = ["set", "-c", "logcrawl.toml", "acme-demo", STREAM, "{\"after\": \"000000000100\"}"];

    let refused = state(dir.path(), &args);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("pass --yes"), "{}", text(&refused.stderr));
    assert_eq!(stored(&store, STREAM), Some(json!({"after": "000000000750"})));

    let set = state(dir.path(), &[&args[..], &["--yes"]].concat());
    assert!(set.status.success(), "{}", text(&set.stderr));
    let shown = text(&set.stdout);
    assert!(shown.contains("old cursor: {\"after\":\"000000000750\"}"), "{shown}");
    assert!(shown.contains("new cursor: {\"after\":\"000000000100\"}"), "{shown}");
    assert_eq!(stored(&store, STREAM), Some(json!({"after": "000000000100"})));
    let listing = text(&state(dir.path(), &["-c", "logcrawl.toml"]).stdout);
    assert!(listing.contains("acme-demo\tACME log stream\t{\"after\":\"000000000100\"}"), "{listing}");
}

#[test]
fn set_refuses_bad_json_an_unconfigured_source_and_an_unknown_stream() {
    let dir = tempfile::tempdir().unwrap();
    let store = configured_with(dir.path(), &[(STREAM, json!({"after": "1"}))]);
    let cases: [(&[&str], &str); 3] = [
        (&["acme-demo", STREAM, "{\"after\": "], "the cursor given for acme-demo/ACME log stream is not JSON: EOF"),
        (&["acme-dmeo", STREAM, "{\"after\": \"2\"}"], "no source named \"acme-dmeo\" (configured: acme-demo)"),
        (
            &["acme-demo", "ACME log strem", "{}"],
            "source \"acme-demo\" has no stream \"ACME log strem\" (its streams: ACME log stream)",
        ),
    ];
    for (args, message) in cases {
        let output = state(dir.path(), &[&["set", "-c", "logcrawl.toml", "--yes"], args].concat());
        assert!(!output.status.success(), "{args:?}");
        assert!(text(&output.stderr).contains(message), "{args:?}: {}", text(&output.stderr));
    }
    assert_eq!(store.list().unwrap(), vec![(StreamKey::new("acme-demo", STREAM), json!({"after": "1"}))]);
}

#[test]
fn an_unusable_checkpoint_points_at_reset_and_set_which_repair_it() {
    let rt = runtime();
    let sim = rt.block_on(AcmeSim::start(AcmeSimConfig { events: 40, ..AcmeSimConfig::default() })).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sim.base_url());
    let store = FileCheckpointStore::open_shared(dir.path().join("state"));
    let key = StreamKey::new("acme-demo", STREAM);
    let run = || command(dir.path(), "k", &["run", "-c", "logcrawl.toml", "--once"]).output().unwrap();
    let hint = "`logcrawl state reset -c logcrawl.toml acme-demo 'ACME log stream'` restarts the stream";

    // A cursor the connector cannot resume from: stopped, with the commands that repair it.
    store.commit(&key, &json!({"after": 5})).unwrap();
    let stopped = run();
    assert!(!stopped.status.success());
    let stderr = text(&stopped.stderr);
    assert!(
        stderr.contains("loading the checkpoint failed") && stderr.contains("integer `5`, expected a string"),
        "{stderr}"
    );
    assert!(stderr.contains(hint) && stderr.contains("`logcrawl state set -c logcrawl.toml acme-demo"), "{stderr}");
    assert!(lines(&dir.path().join("out.ndjson")).is_empty());

    let set = command(
        dir.path(),
        "k",
        &["state", "set", "-c", "logcrawl.toml", "acme-demo", STREAM, "{\"after\": \"000000000030\"}", "--yes"],
    )
    .output()
    .unwrap();
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert!(run().status.success());
    let ids: Vec<Value> = lines(&dir.path().join("out.ndjson")).iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids.first(), Some(&json!("000000000031")), "resumed from the cursor set");
    assert_eq!(ids.len(), 10);

    // A corrupt file: the same hint, and a reset deletes it so the stream starts over.
    std::fs::write(store.path_for(&key).unwrap(), "{\"version\": 1, \"cursor\": ").unwrap();
    let stopped = run();
    assert!(!stopped.status.success());
    assert!(text(&stopped.stderr).contains(hint), "{}", text(&stopped.stderr));
    let reset =
        command(dir.path(), "k", &["state", "reset", "-c", "logcrawl.toml", "acme-demo", "--yes"]).output().unwrap();
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    assert!(
        text(&reset.stdout).contains("acme-demo/ACME log stream\t(unreadable: checkpoint file"),
        "{}",
        text(&reset.stdout)
    );
    assert!(run().status.success());
    assert_eq!(lines(&dir.path().join("out.ndjson")).len(), 10 + 40, "the stream started over");
}

#[test]
fn state_counts_the_dead_letters_of_each_sink() {
    let dir = tempfile::tempdir().unwrap();
    configured_with(dir.path(), &[(STREAM, json!({"after": "1"}))]);
    let listed = state(dir.path(), &["-c", "logcrawl.toml"]);
    assert!(!text(&listed.stdout).contains("dead letters"), "none kept, none shown");
    let letters = logcrawl_core::deadletter::DeadLetterFile::in_state_dir(&dir.path().join("state"), "dd", 1 << 20);
    let letter =
        logcrawl_core::deadletter::DeadLetter { stream: STREAM, reason: "HTTP 400", entry: br#"{"message":"m"}"# };
    letters.write(&[letter, letter]).unwrap();
    let listed = state(dir.path(), &["-c", "logcrawl.toml"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let shown = text(&listed.stdout);
    assert!(shown.contains("dead letters\tdd\t2 records") && shown.contains("dead-letter/dd.ndjson"), "{shown}");
}

#[test]
fn export_then_import_moves_the_checkpoints_to_another_store() {
    let rt = super::runtime();
    let sim = rt.block_on(AcmeSim::start(AcmeSimConfig { events: 50, ..AcmeSimConfig::default() })).unwrap();
    let dir = tempfile::tempdir().unwrap();
    super::write_config(dir.path(), &sim.base_url());
    let run = |args: &[&str]| super::command(dir.path(), "k", args).output().unwrap();
    let once = run(&["run", "-c", "logcrawl.toml", "--once"]);
    assert!(once.status.success(), "{}", super::text(&once.stderr));
    let export = run(&["state", "export", "-c", "logcrawl.toml", "--out", "cursors.ndjson"]);
    assert!(export.status.success(), "{}", super::text(&export.stderr));
    let lines = std::fs::read_to_string(dir.path().join("cursors.ndjson")).unwrap();
    assert_eq!(
        lines,
        "{\"cursor\":{\"after\":\"000000000050\",\"v\":1},\"source\":\"acme-demo\",\"stream\":\"ACME log stream\"}\n"
    );
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    let refused = run(&["state", "import", "-c", "logcrawl.toml", "cursors.ndjson"]);
    assert!(
        !refused.status.success() && super::text(&refused.stderr).contains("--yes"),
        "{}",
        super::text(&refused.stderr)
    );
    let import = run(&["state", "import", "-c", "logcrawl.toml", "cursors.ndjson", "--yes"]);
    assert!(import.status.success(), "{}", super::text(&import.stderr));
    let listing = super::text(&run(&["state", "-c", "logcrawl.toml"]).stdout);
    assert!(listing.contains("acme-demo\tACME log stream\t{\"after\":\"000000000050\",\"v\":1}"), "{listing}");
    let leases = run(&["state", "--leases", "-c", "logcrawl.toml"]);
    assert!(
        !leases.status.success() && super::text(&leases.stderr).contains("type = \"postgres\""),
        "{}",
        super::text(&leases.stderr)
    );
}
