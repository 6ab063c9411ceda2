//! The source layout's promise (ARCHITECTURE.md, "Module graph"): which top-level modules of
//! `src/` import which, and that the only cycles are the three through `runtime` that
//! ARCHITECTURE.md explains. A new edge fails here until the graph below and ARCHITECTURE.md
//! say why it is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Every edge "module -> module it imports" between the top-level modules of `src/`.
const EXPECTED: &[(&str, &[&str])] = &[
    ("blocking", &["runtime", "task", "time"]),
    ("error", &["task", "time"]),
    ("explore", &["runtime", "schedule", "task", "time", "trace"]),
    (
        "runtime",
        &[
            "blocking", "error", "schedule", "slab", "task", "time", "trace",
        ],
    ),
    ("schedule", &["time"]),
    ("slab", &["prefetch"]),
    ("task", &["prefetch", "runtime", "slab"]),
    (
        "testing",
        &["error", "explore", "runtime", "schedule", "task"],
    ),
    ("time", &["runtime", "slab"]),
    ("trace", &["task", "time"]),
];

/// The two-way edges ARCHITECTURE.md explains: the loop stores tasks, timers and the blocking
/// pool, and those call back into the loop.
const CYCLES: &[(&str, &str)] = &[
    ("runtime", "blocking"),
    ("runtime", "task"),
    ("runtime", "time"),
];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The module each name re-exported at the crate root comes from (`pub use crate::m::...`).
fn root_names(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for (at, _) in lib.match_indices("pub use crate::") {
        let rest = &lib[at + "pub use crate::".len()..];
        let path = &rest[..rest.find(';').unwrap_or(rest.len())];
        let module = path.split("::").next().unwrap_or_default().to_string();
        let tail = path.rsplit("::").next().unwrap_or_default();
        for name in tail.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !name.is_empty() {
                names.insert(name.to_string(), module.clone());
            }
        }
    }
    names
}

fn idents(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

fn add_edges(module: &str, text: &str, roots: &BTreeMap<String, String>, graph: &mut Graph) {
    // Unit tests and comments (doc links) are not imports.
    let text = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let used: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => idents(&group[..group.find('}').unwrap_or(group.len())]).collect(),
            None => idents(rest).take(1).collect(),
        };
        for name in used {
            let target = roots.get(name).map_or(name, String::as_str);
            if target != module {
                graph
                    .entry(module.to_string())
                    .or_default()
                    .insert(target.to_string());
            }
        }
    }
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

fn source_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let roots = root_names(&fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs"));
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src/");
        if relative == Path::new("lib.rs") {
            continue;
        }
        let first = relative.components().next().expect("a file name");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let text = fs::read_to_string(&file).expect("a source file");
        add_edges(&module, &text, &roots, &mut graph);
    }
    graph
}

#[test]
fn the_top_level_modules_import_exactly_the_documented_graph() {
    let expected: Graph = EXPECTED
        .iter()
        .map(|(m, deps)| (m.to_string(), deps.iter().map(|d| d.to_string()).collect()))
        .collect();
    assert_eq!(
        source_graph(),
        expected,
        "the module graph changed: update ARCHITECTURE.md (Module graph) and this test"
    );
}

#[test]
fn the_only_import_cycles_are_the_documented_two_way_edges_through_runtime() {
    let graph = source_graph();
    let mut two_way = Vec::new();
    for (module, deps) in &graph {
        for dep in deps {
            if module < dep && graph.get(dep).is_some_and(|d| d.contains(module)) {
                two_way.push((module.clone(), dep.clone()));
            }
        }
    }
    let mut expected: Vec<(String, String)> = CYCLES
        .iter()
        .map(|(a, b)| {
            let (a, b) = (a.to_string(), b.to_string());
            if a < b {
                (a, b)
            } else {
                (b, a)
            }
        })
        .collect();
    expected.sort();
    assert_eq!(two_way, expected);
    // Without those three edges back into the loop, nothing reaches itself.
    let allowed: BTreeSet<(&str, &str)> = CYCLES.iter().map(|(_, b)| (*b, "runtime")).collect();
    let pruned: Graph = graph
        .iter()
        .map(|(m, deps)| {
            let deps = deps
                .iter()
                .filter(|d| !allowed.contains(&(m.as_str(), d.as_str())))
                .cloned()
                .collect();
            (m.clone(), deps)
        })
        .collect();
    for module in pruned.keys() {
        let mut seen = BTreeSet::new();
        let mut stack = vec![module.clone()];
        while let Some(m) = stack.pop() {
            for next in pruned.get(&m).into_iter().flatten() {
                assert_ne!(next, module, "{module} imports itself through a cycle");
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
    }
}
