//! The repository's rules, as tests (rust-analyzer's `tidy` style): `cargo test -p xtask` (and so the README's
//! test command) fails when one is broken, with a message saying what to fix.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::project::{self, CLI_MANIFEST, read, read_toml};

/// The tutorial, and the file its code blocks come from unless they name another.
const TUTORIAL: &str = "docs/tutorial.md";
const TUTORIAL_DEFAULT_SOURCE: &str = "connectors/acme/src/lib.rs";

fn root() -> PathBuf {
    project::root()
}

fn manifest(root: &Path, member: &str) -> Table {
    read_toml(root, &format!("{member}/Cargo.toml")).unwrap()
}

/// Collects failures so one run reports all of them.
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    fn assert_none(self, rule: &str) {
        assert!(self.0.is_empty(), "{rule}:\n  - {}\n", self.0.join("\n  - "));
    }
}

#[test]
fn every_crate_inherits_the_workspace_lints() {
    let root = root();
    let mut problems = Problems::default();
    for member in project::members(&root).unwrap() {
        let inherits =
            manifest(&root, &member).get("lints").and_then(|l| l.get("workspace")) == Some(&Value::Boolean(true));
        if !inherits {
            problems.push(format!("{member}/Cargo.toml: add `[lints]` with `workspace = true` (the workspace's lints apply to every crate)"));
        }
    }
    problems.assert_none("every workspace crate inherits [workspace.lints]");
}

/// A member's crate roots: its library and binaries, as the manifest declares or cargo infers them.
fn crate_roots(root: &Path, member: &str) -> Vec<String> {
    let manifest = manifest(root, member);
    let mut roots = Vec::new();
    let declared = |table: Option<&Value>| table.and_then(|t| t.get("path")).and_then(Value::as_str).map(str::to_owned);
    match declared(manifest.get("lib")) {
        Some(path) => roots.push(format!("{member}/{path}")),
        None if root.join(member).join("src/lib.rs").is_file() => roots.push(format!("{member}/src/lib.rs")),
        None => {}
    }
    let bins = manifest.get("bin").and_then(Value::as_array).cloned().unwrap_or_default();
    for bin in &bins {
        if let Some(path) = declared(Some(bin)) {
            roots.push(format!("{member}/{path}"));
        }
    }
    if bins.iter().all(|b| b.get("path").is_none()) && root.join(member).join("src/main.rs").is_file() {
        roots.push(format!("{member}/src/main.rs"));
    }
    if let Ok(entries) = std::fs::read_dir(root.join(member).join("src/bin")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".rs") {
                roots.push(format!("{member}/src/bin/{name}"));
            }
        }
    }
    roots.sort();
    roots.dedup();
    roots
}

#[test]
fn every_crate_root_starts_with_its_documentation() {
    let root = root();
    let mut problems = Problems::default();
    for member in project::members(&root).unwrap() {
        let roots = crate_roots(&root, &member);
        if roots.is_empty() {
            problems.push(format!("{member}: no src/lib.rs or src/main.rs found"));
        }
        for file in roots {
            let text = read(&root, &file).unwrap();
            if !text.starts_with("//!") {
                problems.push(format!(
                    "{file}: start the file with a `//!` essay (what the crate does, its limits, its configuration, why it is built this way)"
                ));
            }
        }
    }
    problems.assert_none("every crate's lib.rs/main.rs starts with a `//!` doc");
}

/// The body of `pub const NAME: &[…] = &[ … ];` in the registry.
fn registry_const<'a>(registry: &'a str, name: &str) -> &'a str {
    let start = registry
        .find(&format!("pub const {name}: &["))
        .unwrap_or_else(|| panic!("crates/cli/src/registry.rs: no `pub const {name}` list"));
    let body = &registry[start..];
    let body = &body[body.find("= &[").expect("a slice literal") + 4..];
    &body[..body.find("];").expect("the list ends with `];`")]
}

/// The string literals of a list's body, comments left out.
fn quoted(body: &str) -> Vec<String> {
    body.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .flat_map(|line| line.split('"').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// Checks a kind table of the registry: every feature of `group` is in the `names` list and has a
/// `#[cfg(feature = "…")]` line in the `kinds` table, and every name is a feature.
fn check_kind_table(root: &Path, registry: &str, group: &str, kinds: &str, names: &str, problems: &mut Problems) {
    let features = project::feature_group(root, group).unwrap();
    let table = registry_const(registry, kinds);
    let listed = quoted(registry_const(registry, names));
    for feature in &features {
        if !listed.contains(feature) {
            problems.push(format!(
                "feature `{feature}` ({CLI_MANIFEST}, `{group}`) is missing from `{names}` (crates/cli/src/registry.rs): add \"{feature}\""
            ));
        }
        let gate = format!("#[cfg(feature = \"{feature}\")]");
        let gated_kind = table
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .windows(2)
            .any(|pair| pair[0] == gate && pair[1].ends_with("::KIND,"));
        if !gated_kind {
            problems.push(format!(
                "`{kinds}` (crates/cli/src/registry.rs) has no `{gate}` line followed by the crate's `…::KIND,`"
            ));
        }
    }
    for name in &listed {
        if !features.contains(name) {
            problems.push(format!(
                "`{names}` (crates/cli/src/registry.rs) lists `{name}`, which is not in `{group}` of {CLI_MANIFEST}: add the feature or remove the name"
            ));
        }
    }
}

#[test]
fn every_connector_and_sink_feature_is_registered() {
    let root = root();
    let registry = read(&root, "crates/cli/src/registry.rs").unwrap();
    let mut problems = Problems::default();
    check_kind_table(&root, &registry, "all-connectors", "CONNECTORS", "CONNECTOR_NAMES", &mut problems);
    check_kind_table(&root, &registry, "all-sinks", "SINKS", "SINK_NAMES", &mut problems);
    problems.assert_none("every connector and sink feature has a registry entry");
}

#[test]
fn the_registry_check_reads_kind_tables() {
    let registry = "pub const SINKS: &[SinkKind] = &[\n    #[cfg(feature = \"file\")]\n    logcrawl_sink_file::KIND,\n];\n\
                    pub const SINK_NAMES: &[&str] = &[\n    \"file\",\n    \"lts\", // not \"x\"\n];\n";
    assert_eq!(quoted(registry_const(registry, "SINK_NAMES")), ["file", "lts"]);
    let mut problems = Problems::default();
    check_kind_table(&root(), registry, "all-sinks", "SINKS", "SINK_NAMES", &mut problems);
    let text = problems.0.join("\n");
    assert!(text.contains("`datadog`") && text.contains("is missing from `SINK_NAMES`"), "{text}");
    assert!(text.contains("no `#[cfg(feature = \"lts\")]` line"), "{text}");
    assert!(!text.contains("\"file\")]` line"), "file is registered: {text}");
}

/// The `.rs` files of shipped code: every member's `src/` and any crate root outside it.
fn shipped_sources(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for member in project::members(root).unwrap() {
        walk_rust_files(root, &format!("{member}/src"), &|dir| dir != "tests", &|file| file != "tests.rs", &mut files);
        files.extend(crate_roots(root, &member));
    }
    files.sort();
    files.dedup();
    files
}

/// Collects the `.rs` files under `dir` whose name `keep_file` accepts, descending into the directories
/// `enter` accepts.
fn walk_rust_files(
    root: &Path,
    dir: &str,
    enter: &dyn Fn(&str) -> bool,
    keep_file: &dyn Fn(&str) -> bool,
    out: &mut Vec<String>,
) {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{dir}/{name}");
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if enter(&name) {
                walk_rust_files(root, &path, enter, keep_file, out);
            }
        } else if name.ends_with(".rs") && keep_file(&name) {
            out.push(path);
        }
    }
}

#[test]
fn no_todo_unimplemented_or_dbg_in_shipped_code() {
    // Spelled in pieces so this file does not trip its own rule.
    let needles = [concat!("todo", "!("), concat!("unimplemented", "!("), concat!("dbg", "!(")];
    let root = root();
    let mut problems = Problems::default();
    for file in shipped_sources(&root) {
        let text = read(&root, &file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break; // the unit tests of the file
            }
            let code = line.split("//").next().unwrap_or_default();
            for needle in needles {
                if code.contains(needle) {
                    problems.push(format!(
                        "{file}:{}: `{needle}…)` in shipped code: finish the code path or return an error",
                        number + 1
                    ));
                }
            }
        }
    }
    problems.assert_none("no todo!/unimplemented!/dbg! outside tests");
}

/// Every Rust file of every workspace member, tests and benches included.
fn all_rust_sources(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for member in project::members(root).unwrap() {
        walk_rust_files(root, &member, &|dir| dir != "target" && !dir.starts_with('.'), &|_| true, &mut files);
    }
    files.sort();
    files
}

/// The one place allowed to opt out of `unsafe_code = "deny"`: jemalloc's settings symbol.
const UNSAFE_ALLOWED_IN: &str = "crates/alloc/src/lib.rs";

#[test]
fn unsafe_code_is_allowed_in_one_audited_place_only() {
    // Spelled in pieces so this file does not trip its own rule.
    let needle = concat!("allow(", "unsafe_code)");
    let root = root();
    let mut problems = Problems::default();
    let mut seen_in_allowed = false;
    for file in all_rust_sources(&root) {
        let text = read(&root, &file).unwrap();
        let count = text.matches(needle).count();
        if file == UNSAFE_ALLOWED_IN {
            seen_in_allowed = count == 1;
            if count > 1 {
                problems.push(format!("{file}: `{needle}` more than once: keep it on the `malloc_conf` static"));
            }
        } else if count > 0 {
            problems.push(format!(
                "{file}: `{needle}`: logcrawl has no unsafe code outside {UNSAFE_ALLOWED_IN}; use a safe crate instead"
            ));
        }
    }
    assert!(
        seen_in_allowed || !root.join(UNSAFE_ALLOWED_IN).is_file(),
        "{UNSAFE_ALLOWED_IN}: the rule's one exception moved; update this test"
    );
    problems.assert_none("unsafe code only in the audited allocator settings");
}

/// A fenced ```rust block of a Markdown file: the line its first code line is on, and its lines.
#[derive(Debug)]
struct CodeBlock {
    line: usize,
    lines: Vec<String>,
}

fn rust_blocks(markdown: &str) -> Vec<CodeBlock> {
    let mut blocks = Vec::new();
    let mut current: Option<CodeBlock> = None;
    let mut fence_is_rust = false;
    let mut in_fence = false;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            if in_fence {
                if let Some(block) = current.take() {
                    blocks.push(block);
                }
                in_fence = false;
            } else {
                in_fence = true;
                let language = info.split([',', ' ']).next().unwrap_or_default().trim();
                fence_is_rust = language == "rust";
                if fence_is_rust {
                    current = Some(CodeBlock { line: index + 2, lines: Vec::new() });
                }
            }
            continue;
        }
        if in_fence
            && fence_is_rust
            && let Some(block) = current.as_mut()
        {
            block.lines.push(line.to_owned());
        }
    }
    blocks
}

/// Splits a block into the file it names (`// path/to/file.rs` as its first line) and its code.
fn block_source(block: &CodeBlock) -> (String, String) {
    let first = block.lines.iter().position(|l| !l.trim().is_empty());
    if let Some(first) = first {
        let line = block.lines[first].trim();
        if let Some(path) = line.strip_prefix("// ")
            && !path.contains(' ')
            && path.ends_with(".rs")
            && path.contains('/')
        {
            return (path.to_owned(), block.lines[first + 1..].join("\n"));
        }
    }
    (TUTORIAL_DEFAULT_SOURCE.to_owned(), block.lines.join("\n"))
}

/// Checks one block against its file; `Err` says what differs.
fn check_block(root: &Path, block: &CodeBlock) -> Result<(), String> {
    let (path, code) = block_source(block);
    let code = code.trim();
    let where_ = format!("{TUTORIAL}:{}", block.line);
    if code.is_empty() {
        return Err(format!("{where_}: empty ```rust block"));
    }
    let Ok(source) = std::fs::read_to_string(root.join(&path)) else {
        return Err(format!("{where_}: the block names `{path}`, which does not exist"));
    };
    if source.contains(code) {
        return Ok(());
    }
    // Point at the first line where the block stops following the file.
    let lines: Vec<&str> = code.lines().collect();
    let matching = (1..=lines.len()).take_while(|&n| source.contains(lines[..n].join("\n").trim())).last().unwrap_or(0);
    let differing = lines.get(matching).copied().unwrap_or_default();
    Err(format!(
        "{where_}: this ```rust block is not in {path} verbatim; it departs from the file at its line {}: `{}`. \
         Copy the code again from {path} (the tutorial shows the real connector), or name the right file in a \
         `// path/to/file.rs` first line",
        matching + 1,
        differing.trim()
    ))
}

#[test]
fn the_tutorial_code_is_the_acme_connector() {
    let root = root();
    let tutorial = read(&root, TUTORIAL).unwrap();
    let blocks = rust_blocks(&tutorial);
    assert!(
        blocks.len() >= 5,
        "{TUTORIAL} should walk through the ACME connector in ```rust blocks; found {}",
        blocks.len()
    );
    let mut problems = Problems::default();
    let mut sources = Vec::new();
    for block in &blocks {
        sources.push(block_source(block).0);
        if let Err(problem) = check_block(&root, block) {
            problems.push(problem);
        }
    }
    problems.assert_none("the tutorial's code blocks match connectors/acme");
    for needed in ["connectors/acme/src/lib.rs", "connectors/acme/tests/acme.rs"] {
        assert!(sources.iter().any(|s| s == needed), "{TUTORIAL} shows no code from {needed}");
    }
}

#[test]
fn the_tutorial_check_catches_drift() {
    let root = root();
    let copied =
        CodeBlock { line: 7, lines: vec!["#[serde(deny_unknown_fields)]".into(), "pub struct AcmeConfig {".into()] };
    check_block(&root, &copied).unwrap();
    let named = CodeBlock {
        line: 9,
        lines: vec![
            "// connectors/acme/tests/acme.rs".into(),
            "#[tokio::test]".into(),
            "async fn resumes_after_the_cursor() {".into(),
        ],
    };
    check_block(&root, &named).unwrap();
    let drifted =
        CodeBlock { line: 12, lines: vec!["#[serde(deny_unknown_fields)]".into(), "pub struct AcmeSettings {".into()] };
    let err = check_block(&root, &drifted).unwrap_err();
    assert!(
        err.starts_with("docs/tutorial.md:12:") && err.contains("its line 2") && err.contains("AcmeSettings"),
        "{err}"
    );
    let missing = CodeBlock { line: 3, lines: vec!["// connectors/nope/src/lib.rs".into(), "fn x() {}".into()] };
    assert!(check_block(&root, &missing).unwrap_err().contains("does not exist"));
    let parsed =
        rust_blocks("text\n```rust\n// a/b.rs\nfn a() {}\n```\n```toml\nx = 1\n```\n```rust,ignore\nfn b() {}\n```\n");
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].line, 3);
    assert_eq!(block_source(&parsed[0]), ("a/b.rs".to_owned(), "fn a() {}".to_owned()));
    assert_eq!(block_source(&parsed[1]), (TUTORIAL_DEFAULT_SOURCE.to_owned(), "fn b() {}".to_owned()));
}

#[test]
fn ci_runs_the_readmes_test_command() {
    let root = root();
    let command = crate::ci::TEST_COMMAND;
    let readme = read(&root, "README.md").unwrap();
    assert!(
        readme.lines().any(|l| l.trim_start().starts_with(command)),
        "README.md no longer shows `{command}`: update ci::TEST_COMMAND (xtask/src/ci.rs) and .ci/run with it"
    );
    let script = read(&root, ".ci/run").unwrap();
    assert!(
        script.lines().any(|l| l.trim() == command),
        ".ci/run must run the README's test command `{command}` on a line of its own"
    );
}

#[test]
fn the_licenses_the_workspace_declares_are_there() {
    let root = root();
    let workspace = read_toml(&root, "Cargo.toml").unwrap();
    let license = workspace["workspace"]["package"]["license"].as_str().unwrap();
    assert_eq!(license, "MIT OR Apache-2.0", "the LICENSE-* files below assume the workspace's license");
    for file in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let text = read(&root, file).unwrap_or_default();
        assert!(text.len() > 500, "{file} is missing or empty: `cargo xtask dist` ships it");
    }
}
