//! The import graph of the library: data flows one way, capture -> decode -> flow -> proto ->
//! facts -> classify -> across -> report, and the drivers on top. A module may use its own stage and
//! the stages before it, never a later one, and no two modules use each other (directly or
//! round a longer cycle). Read from the sources, so a new `use` that reaches upstream fails
//! here; a new top-level module must be given its stage below (and in the README's Layout).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module of the library with its stage, in pipeline order.
const STAGES: &[(&str, &[&str])] = &[
    ("base", &["text", "fifo_map", "names", "suite_names", "time", "schema", "verdict"]),
    ("capture", &["capture"]),
    ("decode", &["decode"]),
    ("flow", &["flow"]),
    ("proto", &["proto"]),
    ("facts", &["facts", "etl_evidence", "dns_log"]),
    ("classify", &["classify", "sqlserver", "record", "capture_loss", "summary"]),
    ("across", &["across"]),
    ("report", &["report", "explain"]),
    ("drivers", &["analyze", "batch", "live", "records"]),
];

/// Uses of a later stage that are the data path itself, with why.
const HAND_OFFS: &[(&str, &str, &str)] = &[(
    "flow",
    "proto",
    "the flow table owns each connection's protocol analyzer and pushes the connection's bytes into it",
)];

fn stage_of(module: &str) -> Option<usize> {
    STAGES.iter().position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (doc comments name modules in prose) and
/// without its unit tests (which may run the whole pipeline to make their input).
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names: `crate::x`, and `crate::{x, y::z}`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for piece in code.split("crate::").skip(1) {
        if let Some(group) = piece.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = piece.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Module -> the other top-level modules it uses.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "main" || module == "lib" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let used = graph.entry(module.clone()).or_default();
        used.extend(named_modules(&code).into_iter().filter(|m| *m != module));
    }
    graph
}

#[test]
fn every_module_has_a_stage() {
    for module in import_graph().keys() {
        assert!(stage_of(module).is_some(), "src/{module}: give it a stage in tests/layers.rs and the README");
    }
}

#[test]
fn no_module_uses_a_later_stage() {
    let mut upstream = Vec::new();
    for (module, used) in import_graph() {
        let Some(stage) = stage_of(&module) else { continue };
        for other in used {
            if HAND_OFFS.iter().any(|(from, to, _)| *from == module && *to == other) {
                continue;
            }
            match stage_of(&other) {
                Some(s) if s > stage => {
                    upstream.push(format!("{module} ({}) uses {other} ({})", STAGES[stage].0, STAGES[s].0))
                }
                _ => {}
            }
        }
    }
    assert!(upstream.is_empty(), "uses of later stages:\n{}", upstream.join("\n"));
}

#[test]
fn no_two_modules_use_each_other() {
    let graph = import_graph();
    // Depth-first search for a back edge; the path on the stack is the cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<String> {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            return Some(format!("{} -> {node}", stack[at..].join(" -> ")));
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if graph.contains_key(next) {
                if let Some(cycle) = visit(next, graph, stack, done) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {cycle}");
        }
    }
}

#[test]
fn the_scanner_finds_plain_and_grouped_uses_and_ignores_comments() {
    let code = code_of("use crate::flow::Flow;\nuse crate::{decode, proto::facts};\n// crate::report in prose\n");
    assert_eq!(named_modules(&code), BTreeSet::from(["decode".to_string(), "flow".into(), "proto".into()]));
}

#[test]
fn the_readme_layout_names_every_module_and_where_each_verdict_is_decided() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let layout = readme.split("## Layout").nth(1).expect("README's Layout section");
    let layout = &layout[..layout.find("\n## ").unwrap_or(layout.len())];
    for (_, modules) in STAGES {
        for module in *modules {
            assert!(layout.contains(module), "README's Layout does not name {module}");
        }
    }
    let table = layout.split("### Where each verdict is decided").nth(1).expect("the verdict table");
    for code in tlsdiag::verdict::Code::ALL {
        assert!(table.contains(&format!("`{code}`")), "README's verdict table does not place `{code}`");
    }
}
