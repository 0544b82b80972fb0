//! `cargo xtask new-connector NAME`: a new connector crate, wired in everywhere a connector must be.
//!
//! Writes `connectors/NAME/{Cargo.toml, src/lib.rs, tests/NAME.rs, tests/conformance.rs, README.md}` from
//! `xtask/templates/connector` (the ACME connector's code on the connector SDK, renamed — a tidy rule keeps
//! the two the same code — with a wiremock test and the conformance suite, both passing as generated), then
//! edits
//!
//! * `Cargo.toml`: `logcrawl-NAME = { path = "connectors/NAME", version = … }` in `[workspace.dependencies]`;
//! * `crates/cli/Cargo.toml`: the feature `NAME = ["dep:logcrawl-NAME"]`, `NAME` in `all-connectors`, and the
//!   optional dependency;
//! * `crates/cli/src/registry.rs`: the crate's `KIND` in the `CONNECTORS` table behind its feature, and its
//!   name in `CONNECTOR_NAMES`, each above its `// xtask:new-connector:…` marker line.
//!
//! Every edit is computed and checked before anything is written, so a refused name or a moved marker leaves
//! the tree untouched; the edits are textual (comments and layout survive) and the Rust files are put through
//! `rustfmt`. Everything it does is undone by `git checkout -- . && git clean -fd connectors/NAME`.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail, ensure};

use crate::project::{self, CLI_MANIFEST, say};

/// The registry file and its two marker lines.
const REGISTRY: &str = "crates/cli/src/registry.rs";
const KIND_MARKER: &str = "// xtask:new-connector:kind";
const NAME_MARKER: &str = "// xtask:new-connector:name";

const TEMPLATE_MANIFEST: &str = include_str!("../templates/connector/Cargo.toml.tmpl");
const TEMPLATE_LIB: &str = include_str!("../templates/connector/lib.rs.tmpl");
const TEMPLATE_TEST: &str = include_str!("../templates/connector/test.rs.tmpl");
const TEMPLATE_CONFORMANCE: &str = include_str!("../templates/connector/conformance.rs.tmpl");
const TEMPLATE_README: &str = include_str!("../templates/connector/README.md.tmpl");

/// Scaffolds and wires the connector `name`.
pub(crate) fn run(name: &str) -> Result<ExitCode> {
    let root = project::root();
    let plan = Plan::new(&root, name)?;
    plan.write(&root)?;
    format(&root, &plan.rust_files())?;
    // Records the new package in Cargo.lock (no new external crate is needed) and proves the manifests parse.
    project::output(project::cargo().args(["metadata", "--format-version", "1", "--no-deps"])).context(
        "the scaffolded manifests do not load; `git checkout -- . && git clean -fd connectors/` undoes the scaffold",
    )?;
    project::output(project::cargo().args(["metadata", "--format-version", "1"]))
        .context("cargo could not update Cargo.lock for the new package")?;
    for path in &plan.created {
        say(&format!("created  {}", path.0));
    }
    for path in &plan.edited {
        say(&format!("edited   {}", path.0));
    }
    say(&format!(
        "\nconnector `{name}` (package logcrawl-{name}, feature `{name}` of logcrawl) is ready:\n  \
         cargo test -p logcrawl-{name}\n\
         then adapt connectors/{name}/src/lib.rs to the vendor's API (it assumes GET /v1/logs?after=&limit= → \
         {{\"logs\", \"has_more\"}}),\nfill in connectors/{name}/README.md, and try it with \
         `cargo run -p logcrawl -- check -c FILE SOURCE`.\n\
         To undo: git checkout -- . && git clean -fd connectors/{name}"
    ));
    Ok(ExitCode::SUCCESS)
}

/// A path relative to the root and its new contents.
#[derive(Debug)]
struct FileEdit(String, String);

/// Everything the scaffold will write, computed before writing any of it.
#[derive(Debug)]
struct Plan {
    created: Vec<FileEdit>,
    edited: Vec<FileEdit>,
}

impl Plan {
    fn new(root: &Path, name: &str) -> Result<Self> {
        validate_name(name)?;
        let dir = format!("connectors/{name}");
        ensure!(!root.join(&dir).exists(), "{dir} already exists");
        let features = project::cli_features(root)?;
        if features.iter().any(|(feature, _)| feature == name) {
            bail!("`{name}` is already a feature of the logcrawl package ({CLI_MANIFEST}); pick another name");
        }
        let root_manifest = project::read(root, "Cargo.toml")?;
        ensure!(
            !root_manifest.lines().any(|l| l.starts_with(&format!("logcrawl-{name} "))),
            "Cargo.toml already has a `logcrawl-{name}` dependency"
        );
        let version = project::workspace_version(root)?;
        let connectors = project::feature_group(root, "all-connectors")?;

        let render = |template: &str| render(template, name);
        let created = vec![
            FileEdit(format!("{dir}/Cargo.toml"), render(TEMPLATE_MANIFEST)),
            FileEdit(format!("{dir}/src/lib.rs"), render(TEMPLATE_LIB)),
            FileEdit(format!("{dir}/tests/{name}.rs"), render(TEMPLATE_TEST)),
            FileEdit(format!("{dir}/tests/conformance.rs"), render(TEMPLATE_CONFORMANCE)),
            FileEdit(format!("{dir}/README.md"), render(TEMPLATE_README)),
        ];
        let edited = vec![
            FileEdit("Cargo.toml".into(), edit_root_manifest(&root_manifest, name, &version)?),
            FileEdit(CLI_MANIFEST.into(), edit_cli_manifest(&project::read(root, CLI_MANIFEST)?, name, &connectors)?),
            FileEdit(REGISTRY.into(), edit_registry(&project::read(root, REGISTRY)?, name)?),
        ];
        Ok(Self { created, edited })
    }

    fn write(&self, root: &Path) -> Result<()> {
        for FileEdit(path, contents) in self.created.iter().chain(&self.edited) {
            let path = root.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    fn rust_files(&self) -> Vec<&str> {
        self.created.iter().chain(&self.edited).map(|f| f.0.as_str()).filter(|p| p.ends_with(".rs")).collect()
    }
}

/// `rustfmt` on the files written (the workspace's `rustfmt.toml` applies), so `cargo fmt --check` stays clean.
fn format(root: &Path, files: &[&str]) -> Result<()> {
    let mut cmd = Command::new(std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into()));
    cmd.current_dir(root).args(["--edition", "2024"]).args(files);
    project::output(&mut cmd).map(drop).context("rustfmt failed on the scaffolded files")
}

/// A connector name: lowercase ASCII letters, digits and `_`, starting with a letter.
fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ensure!(
        valid,
        "invalid connector name {name:?}: use lowercase letters, digits and `_`, starting with a letter (e.g. `okta`, `github_audit`)"
    );
    ensure!(name.len() <= 40, "connector name {name:?} is longer than 40 characters");
    ensure!(!name.ends_with('_') && !name.contains("__"), "connector name {name:?}: no trailing or doubled `_`");
    Ok(())
}

/// `github_audit` → `GithubAudit`.
fn camel_case(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

fn render(template: &str, name: &str) -> String {
    template.replace("{{Name}}", &camel_case(name)).replace("{{name}}", name)
}

/// Adds `logcrawl-NAME = { path = "connectors/NAME", version = "…" }` after the last connector in
/// `[workspace.dependencies]`.
fn edit_root_manifest(manifest: &str, name: &str, version: &str) -> Result<String> {
    let line = format!("logcrawl-{name} = {{ path = \"connectors/{name}\", version = \"{version}\" }}");
    let mut lines: Vec<&str> = manifest.lines().collect();
    let section = section_lines(&lines, "[workspace.dependencies]")
        .context("Cargo.toml has no [workspace.dependencies] table")?;
    let anchor = section
        .clone()
        .rev()
        .find(|&i| lines[i].starts_with("logcrawl-") && lines[i].contains("path = \"connectors/"))
        .or_else(|| section.clone().rev().find(|&i| lines[i].starts_with("logcrawl-")))
        .context("Cargo.toml's [workspace.dependencies] lists no logcrawl crate to place the new one after")?;
    lines.insert(anchor + 1, &line);
    Ok(join(&lines, manifest))
}

/// Adds the feature (after the last connector's), the `all-connectors` entry and the optional dependency
/// (in name order) to the `logcrawl` package's manifest.
fn edit_cli_manifest(manifest: &str, name: &str, connectors: &[String]) -> Result<String> {
    let feature = format!("{name} = [\"dep:logcrawl-{name}\"]");
    let dependency = format!("logcrawl-{name} = {{ workspace = true, optional = true }}");
    let mut lines: Vec<String> = manifest.lines().map(str::to_owned).collect();
    let borrowed: Vec<&str> = lines.iter().map(String::as_str).collect();

    let features = section_lines(&borrowed, "[features]").context("no [features] table")?;
    let group = features
        .clone()
        .find(|&i| borrowed[i].starts_with("all-connectors ="))
        .context("no `all-connectors` feature")?;
    let list = borrowed[group]["all-connectors =".len()..].trim();
    let Some(inner) = list.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
        bail!("{CLI_MANIFEST}: `all-connectors` must be a one-line list for new-connector to extend it");
    };
    let entries: Vec<&str> = inner.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
    let quoted = format!("\"{name}\"");
    let new_list = entries.iter().copied().chain(std::iter::once(quoted.as_str())).collect::<Vec<_>>().join(", ");
    let after_feature = connectors
        .iter()
        .rev()
        .find_map(|c| features.clone().find(|&i| borrowed[i].starts_with(&format!("{c} ="))))
        .unwrap_or(group);
    let dependencies = section_lines(&borrowed, "[dependencies]").context("no [dependencies] table")?;
    let key = format!("logcrawl-{name}");
    let dependency_at = dependencies
        .clone()
        .find(|&i| {
            let line = borrowed[i].trim();
            !line.is_empty()
                && !line.starts_with('#')
                && line.split([' ', '=', '.']).next().is_some_and(|k| k > key.as_str())
        })
        .unwrap_or_else(|| {
            dependencies.clone().rev().find(|&i| !borrowed[i].trim().is_empty()).map_or(dependencies.start, |i| i + 1)
        });

    // Apply from the bottom up so earlier indices stay valid.
    let mut edits = [(dependency_at, Some(dependency)), (after_feature + 1, Some(feature)), (group, None)];
    edits.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    for (at, insert) in edits {
        match insert {
            Some(line) => lines.insert(at, line),
            None => lines[at] = format!("all-connectors = [{new_list}]"),
        }
    }
    let borrowed: Vec<&str> = lines.iter().map(String::as_str).collect();
    Ok(join(&borrowed, manifest))
}

/// Inserts the connector's kind into `CONNECTORS` (behind its feature) and its name into
/// `CONNECTOR_NAMES`, each above its marker line.
fn edit_registry(registry: &str, name: &str) -> Result<String> {
    let mut lines: Vec<String> = registry.lines().map(str::to_owned).collect();
    let marker = |lines: &[String], marker: &str| {
        let found: Vec<usize> =
            lines.iter().enumerate().filter(|(_, l)| l.trim().starts_with(marker)).map(|(i, _)| i).collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => bail!("{REGISTRY} has no `{marker}` line; restore it above the place new connectors go"),
            _ => bail!("{REGISTRY} has the `{marker}` line more than once"),
        }
    };
    let indent = |line: &str| " ".repeat(line.len() - line.trim_start().len());
    let kind = marker(&lines, KIND_MARKER)?;
    let at = indent(&lines[kind]);
    lines.insert(kind, format!("{at}logcrawl_{name}::KIND,"));
    lines.insert(kind, format!("{at}#[cfg(feature = \"{name}\")]"));
    let named = marker(&lines, NAME_MARKER)?;
    let at = indent(&lines[named]);
    lines.insert(named, format!("{at}\"{name}\","));
    let borrowed: Vec<&str> = lines.iter().map(String::as_str).collect();
    Ok(join(&borrowed, registry))
}

/// The line indices of a TOML table's body (after its header, up to the next header).
fn section_lines(lines: &[&str], header: &str) -> Option<std::ops::Range<usize>> {
    let start = lines.iter().position(|l| l.trim() == header)? + 1;
    let end = lines[start..].iter().position(|l| l.trim_start().starts_with('[')).map_or(lines.len(), |i| start + i);
    Some(start..end)
}

/// Joins lines, keeping the original's final newline.
fn join(lines: &[&str], original: &str) -> String {
    let mut text = lines.join("\n");
    if original.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for good in ["demo2", "github_audit", "x"] {
            validate_name(good).unwrap();
        }
        for bad in ["", "Demo", "2fa", "my-api", "a b", "trailing_", "dou__ble", "é"] {
            let err = validate_name(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn names_become_type_names() {
        assert_eq!(camel_case("demo2"), "Demo2");
        assert_eq!(camel_case("github_audit"), "GithubAudit");
        let lib = render(TEMPLATE_LIB, "github_audit");
        assert!(lib.contains("pub struct GithubAuditConfig") && lib.contains("ConnectorKind::new(\"github_audit\""));
        for template in [TEMPLATE_MANIFEST, TEMPLATE_LIB, TEMPLATE_TEST, TEMPLATE_README] {
            assert!(!render(template, "demo2").contains("{{"), "a placeholder is left in a template");
        }
    }

    #[test]
    fn existing_components_are_refused_before_anything_is_written() {
        let root = project::root();
        for taken in ["acme", "okta", "datadog", "file", "default", "core"] {
            let err = Plan::new(&root, taken).unwrap_err().to_string();
            assert!(err.contains("already"), "{taken}: {err}");
        }
    }

    #[test]
    fn the_plan_wires_the_connector_into_the_real_manifests_and_registry() {
        let root = project::root();
        let plan = Plan::new(&root, "zeta_logs").unwrap();
        let created: Vec<&str> = plan.created.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            created,
            [
                "connectors/zeta_logs/Cargo.toml",
                "connectors/zeta_logs/src/lib.rs",
                "connectors/zeta_logs/tests/zeta_logs.rs",
                "connectors/zeta_logs/tests/conformance.rs",
                "connectors/zeta_logs/README.md"
            ]
        );
        let edited = |path: &str| plan.edited.iter().find(|f| f.0 == path).unwrap().1.clone();

        let root_manifest = edited("Cargo.toml");
        let parsed: toml::Table = root_manifest.parse().unwrap();
        let dependency = &parsed["workspace"]["dependencies"]["logcrawl-zeta_logs"];
        assert_eq!(dependency["path"].as_str(), Some("connectors/zeta_logs"));

        let cli: toml::Table = edited(CLI_MANIFEST).parse().unwrap();
        assert_eq!(cli["features"]["zeta_logs"].as_array().unwrap()[0].as_str(), Some("dep:logcrawl-zeta_logs"));
        let all: Vec<&str> =
            cli["features"]["all-connectors"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(all.last(), Some(&"zeta_logs"));
        assert!(all.contains(&"acme"), "{all:?}");
        assert_eq!(cli["dependencies"]["logcrawl-zeta_logs"]["optional"].as_bool(), Some(true));

        let registry = edited(REGISTRY);
        let kind = registry.find("    #[cfg(feature = \"zeta_logs\")]\n    logcrawl_zeta_logs::KIND,\n").unwrap();
        assert!(kind > registry.find("pub const CONNECTORS").unwrap() && kind < registry.find(KIND_MARKER).unwrap());
        let name = registry.find("    \"zeta_logs\",\n").unwrap();
        assert!(name > registry.find("pub const CONNECTOR_NAMES").unwrap());
        assert!(name < registry.find(NAME_MARKER).unwrap() && name < registry.find("pub const SINKS").unwrap());
    }

    #[test]
    fn cli_manifest_edits_keep_everything_else() {
        let manifest = "[features]\ndefault = [\"all-connectors\"]\nall-connectors = [\"a\"]\n# connectors\na = [\"dep:logcrawl-a\"]\n# sinks\nfile = []\n\n[dependencies]\nanyhow.workspace = true\nlogcrawl-a = { workspace = true, optional = true }\nlogcrawl-core.workspace = true\nserde.workspace = true\n\n[lints]\nworkspace = true\n";
        let edited = edit_cli_manifest(manifest, "b", &["a".into()]).unwrap();
        assert_eq!(
            edited,
            "[features]\ndefault = [\"all-connectors\"]\nall-connectors = [\"a\", \"b\"]\n# connectors\na = [\"dep:logcrawl-a\"]\nb = [\"dep:logcrawl-b\"]\n# sinks\nfile = []\n\n[dependencies]\nanyhow.workspace = true\nlogcrawl-a = { workspace = true, optional = true }\nlogcrawl-b = { workspace = true, optional = true }\nlogcrawl-core.workspace = true\nserde.workspace = true\n\n[lints]\nworkspace = true\n"
        );
        let multi_line = manifest.replace("all-connectors = [\"a\"]", "all-connectors = [\n  \"a\",\n]");
        assert!(edit_cli_manifest(&multi_line, "b", &["a".into()]).unwrap_err().to_string().contains("one-line"));
    }

    #[test]
    fn a_missing_marker_is_an_error_that_says_so() {
        let err = edit_registry("pub const CONNECTORS: &[ConnectorKind] = &[];\n", "b").unwrap_err().to_string();
        assert!(err.contains("xtask:new-connector:kind"), "{err}");
    }

    /// Code lines only: comments and blank lines (the documentation differs on purpose) left out.
    fn code(text: &str) -> Vec<String> {
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).map(str::to_owned).collect()
    }

    #[test]
    fn the_connector_template_is_the_acme_connector_renamed() {
        let root = project::root();
        let acme = project::read(&root, "connectors/acme/src/lib.rs").unwrap();
        // ACME's stream keeps its historical name (it is part of every checkpoint key).
        let acme = acme
            .replace("\"ACME log stream\"", "\"acme log stream\"")
            .replace("\"ACME demo logs API (the tutorial's)\"", "\"acme logs API\"");
        let rendered = render(TEMPLATE_LIB, "acme");
        let (expected, got) = (code(&acme), code(&rendered));
        if let Some(at) = expected.iter().zip(&got).position(|(a, b)| a != b) {
            panic!(
                "xtask/templates/connector/lib.rs.tmpl departs from connectors/acme/src/lib.rs: `{}` vs `{}`; \
                 regenerate the template from ACME (rename Acme/acme to {{{{Name}}}}/{{{{name}}}})",
                got[at], expected[at]
            );
        }
        assert_eq!(expected.len(), got.len(), "the template and ACME have as many code lines");
        // The registry lines the scaffold writes are ACME's.
        let registry = project::read(&root, REGISTRY).unwrap();
        let registry = registry.split("#[cfg(test)]").next().unwrap();
        let without_acme: String = registry
            .lines()
            .filter(|l| !l.contains("\"acme\"") && !l.contains("logcrawl_acme::"))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        let scaffolded = edit_registry(&without_acme, "acme").unwrap();
        // (rustfmt may pack the names onto one line, so code is counted, not compared line by line.)
        for code in ["#[cfg(feature = \"acme\")]\n    logcrawl_acme::KIND,\n", "\"acme\","] {
            let count = |text: &str| text.matches(code).count();
            assert_eq!(
                (count(registry), count(&scaffolded)),
                (1, 1),
                "`{code}`: ACME's registry code is the scaffold's"
            );
        }
        let conformance = project::read(&root, "connectors/acme/tests/conformance.rs").unwrap();
        assert_eq!(code(&render(TEMPLATE_CONFORMANCE, "acme")), code(&conformance), "conformance.rs.tmpl is ACME's");
    }
}
