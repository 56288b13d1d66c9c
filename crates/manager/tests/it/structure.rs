//! The engine's modules import in one direction: a cycle between two top-level modules of
//! `wildcert-manager` fails this test (and so CI), naming the modules and the lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`src/issue/solve.rs` → `issue`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

/// The top-level modules a source text names through `crate::…` paths, outside tests.
fn imports(text: &str) -> BTreeMap<String, usize> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut out = BTreeMap::new();
    for (n, line) in code.lines().enumerate() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.entry(name).or_insert(n + 1);
            }
            rest = after;
        }
        // `use crate::{a, b::c}`
        if let Some(i) = line.find("crate::{") {
            let inner = &line[i + "crate::{".len()..];
            for part in inner.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.entry(name).or_insert(n + 1);
                }
            }
        }
    }
    out
}

#[test]
fn manager_modules_import_in_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 10,
        "sources not found under {}",
        src.display()
    );
    // module → (imported module → "file:line")
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in &files {
        let Some(m) = module_of(&src, f) else {
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read source");
        let node = graph.entry(m.clone()).or_default();
        for (to, line) in imports(&text) {
            if to != m {
                node.entry(to)
                    .or_insert_with(|| format!("{}:{line}", f.display()));
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for to in graph
            .get(m)
            .map(|e| e.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if let Some(c) = visit(&to, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    let at = graph
                        .get(&w[0])
                        .and_then(|e| e.get(&w[1]))
                        .cloned()
                        .unwrap_or_default();
                    format!("{} -> {} ({at})", w[0], w[1])
                })
                .collect();
            panic!(
                "import cycle between manager modules:\n  {}",
                steps.join("\n  ")
            );
        }
    }
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    // The parser itself: both forms of import are seen, tests are not.
    let seen = imports(
        "use crate::{issue, store::Store};\nfn f() { crate::model::ms(); }\n#[cfg(test)]\nuse crate::renew;",
    );
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        vec!["issue", "model", "store"]
    );
}
