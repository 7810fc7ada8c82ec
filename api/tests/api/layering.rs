//! The architecture's dependency rule, checked on the source (docs/architecture.md):
//! `cli → transport → app → {auth, limits, live} → domain/persistence ports`. The use cases and
//! the layers under them name no transport (axum, async-graphql, tungstenite, `crate::transport`)
//! and no command line; the carriers (`transport::http`, `transport::ws`) never import each
//! other and the GraphQL schema imports neither; top-level modules import each other in no
//! circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that hold no transport and know no command line.
const TRANSPORT_FREE: [&str; 4] = ["app", "auth", "limits", "live"];
/// What they must not name.
const TRANSPORT_NAMES: [&str; 5] = [
    "axum",
    "async_graphql",
    "tokio_tungstenite",
    "crate::transport",
    "crate::cli",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir` (or `dir.rs` itself), with its code minus `//` comments.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let file = dir.with_extension("rs");
    if file.is_file() {
        out.push((file.clone(), code_of(&file)));
    }
    if dir.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                out.extend(sources(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push((path.clone(), code_of(&path)));
            }
        }
    }
    out
}

fn code_of(path: &Path) -> String {
    code_of_str(&std::fs::read_to_string(path).unwrap())
}

/// `text` without its `//` comments (doc comments included).
fn code_of_str(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `code` names `name` as a path (not as part of a longer identifier).
fn names(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + name.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// The top-level modules a piece of code imports (`crate::x…`, `crate::{x, …}`).
fn imported_modules(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let heads: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group
                .split('}')
                .next()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .collect(),
            None => vec![rest],
        };
        for head in heads {
            let module: String = head
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&module) {
                found.insert(module);
            }
        }
    }
    found
}

fn top_level_modules() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|name| name != "lib" && name != "main")
        .collect()
}

#[test]
fn use_cases_and_the_layers_under_them_name_no_transport() {
    let mut offences = Vec::new();
    for module in TRANSPORT_FREE {
        let files = sources(&src().join(module));
        assert!(!files.is_empty(), "src/{module} holds no code");
        for (path, code) in files {
            for name in TRANSPORT_NAMES {
                if names(&code, name) {
                    offences.push(format!("{} names `{name}`", path.display()));
                }
            }
        }
    }
    assert!(offences.is_empty(), "{offences:#?}");
}

#[test]
fn the_carriers_do_not_import_each_other_and_the_schema_imports_neither() {
    let rules = [
        ("transport/http", ["crate::transport::ws", "super::ws"]),
        ("transport/ws", ["crate::transport::http", "super::http"]),
        (
            "transport/graphql",
            ["crate::transport::http", "super::http"],
        ),
        ("transport/graphql", ["crate::transport::ws", "super::ws"]),
    ];
    let mut offences = Vec::new();
    for (dir, forbidden) in rules {
        for (path, code) in sources(&src().join(dir)) {
            for name in forbidden {
                if names(&code, name) {
                    offences.push(format!("{} names `{name}`", path.display()));
                }
            }
        }
    }
    assert!(offences.is_empty(), "{offences:#?}");
}

#[test]
fn top_level_modules_import_each_other_in_no_circle() {
    let modules = top_level_modules();
    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|module| {
            let mut imports = BTreeSet::new();
            for (_, code) in sources(&src().join(module)) {
                imports.extend(imported_modules(&code, &modules));
            }
            imports.remove(module);
            (module.clone(), imports)
        })
        .collect();
    // Depth-first search; a module met again while still on the path closes a circle.
    fn visit<'a>(
        module: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| *m == module) {
            let mut circle: Vec<String> = path[start..].iter().map(|m| m.to_string()).collect();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if !done.insert(module) {
            return None;
        }
        path.push(module);
        for next in &graph[module] {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        let circle = visit(module, &graph, &mut Vec::new(), &mut done);
        assert!(
            circle.is_none(),
            "top-level modules import each other in a circle: {}",
            circle.unwrap().join(" → ")
        );
    }
    // The map in docs/architecture.md, as the code has it.
    assert!(graph["app"].is_disjoint(&BTreeSet::from(["transport".into(), "cli".into()])));
    assert!(!graph["transport"].contains("cli"), "{graph:#?}");
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The scanner itself: a path is found, a longer identifier or a comment is not.
    assert!(names("use axum::Router;", "axum"));
    assert!(!names("use axum_extra::X;", "axum"));
    assert!(!names("let myaxum = 1;", "axum"));
    assert!(!code_of_str("// axum is not used here").contains("axum"));
    let modules = BTreeSet::from(["app".to_owned(), "auth".to_owned()]);
    assert_eq!(
        imported_modules("use crate::{app::AppState, auth};", &modules),
        modules
    );
    assert_eq!(
        imported_modules("crate::app::race::ingest(x)", &modules),
        BTreeSet::from(["app".to_owned()])
    );
}
