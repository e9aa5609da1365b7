//! Layers: every `crate::` path in `src/` points to a layer at or below its own (ARCHITECTURE.md's
//! layer table is read as the source of truth), no file of a protocol-neutral layer names a
//! protocol's folder, and no import cycle joins files of different folders.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer table: rank and neutrality of each top-level module.
struct Layers {
    rank: BTreeMap<String, usize>,
    neutral: BTreeSet<String>,
}

/// Reads the rows `| rank | `module`, `module` | yes/no | ... |` between the layer markers.
fn read_layers(markdown: &str) -> Layers {
    let start = markdown
        .find("<!-- layers:begin -->")
        .expect("ARCHITECTURE.md has a <!-- layers:begin --> marker");
    let end = markdown
        .find("<!-- layers:end -->")
        .expect("ARCHITECTURE.md has a <!-- layers:end --> marker");
    let mut layers = Layers {
        rank: BTreeMap::new(),
        neutral: BTreeSet::new(),
    };
    for line in markdown[start..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let Ok(rank) = cells[1].parse::<usize>() else {
            continue;
        };
        for module in cells[2].split(',') {
            let module = module.trim().trim_matches('`').to_string();
            if cells[3].eq_ignore_ascii_case("yes") {
                layers.neutral.insert(module.clone());
            }
            layers.rank.insert(module, rank);
        }
    }
    assert!(
        !layers.rank.is_empty(),
        "ARCHITECTURE.md's layer table has no rows"
    );
    layers
}

/// Every `.rs` file under `dir`, by path relative to it.
fn read_sources(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("listing src") {
            let path = entry.expect("listing src").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("reading a source file");
                out.insert(
                    path.strip_prefix(dir).expect("under src").to_path_buf(),
                    text,
                );
            }
        }
    }
    out
}

/// The module path of a source file (`engine/replay.rs` → `[engine, replay]`).
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    match last.as_str() {
        "mod.rs" | "lib.rs" | "main.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_string()),
    }
    parts
}

/// The code of a file that counts: before its `#[cfg(test)]` module, without line comments.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses a use-tree (`a::b`, `{a::b, c::{d, e}}`) at the start of `s`; returns its paths.
fn parse_tree(s: &[u8], i: &mut usize) -> Vec<Vec<String>> {
    let skip = |i: &mut usize| {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip(i);
    if *i < s.len() && s[*i] == b'{' {
        *i += 1;
        let mut out = Vec::new();
        loop {
            skip(i);
            if *i >= s.len() {
                return out;
            }
            if s[*i] == b'}' {
                *i += 1;
                return out;
            }
            if s[*i] == b',' {
                *i += 1;
                continue;
            }
            let before = *i;
            out.extend(parse_tree(s, i));
            if *i == before {
                *i += 1;
            }
        }
    }
    let start = *i;
    while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == b'_') {
        *i += 1;
    }
    let ident = String::from_utf8_lossy(&s[start..*i]).into_owned();
    if ident.is_empty() {
        return Vec::new();
    }
    if s[*i..].starts_with(b"::") {
        *i += 2;
        let rest = parse_tree(s, i);
        if rest.is_empty() {
            return vec![vec![ident]];
        }
        return rest
            .into_iter()
            .map(|mut p| {
                p.insert(0, ident.clone());
                p
            })
            .collect();
    }
    vec![vec![ident]]
}

/// Absolute module paths named in `code` of the module `module` (`crate::`, `super::`, `self::`).
fn paths_in(code: &str, module: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", {
            let mut m = module.to_vec();
            if !is_mod_file || !m.is_empty() {
                m.pop();
            }
            m
        }),
        ("self::", module.to_vec()),
    ] {
        let mut from = 0;
        while let Some(pos) = code[from..].find(prefix) {
            let at = from + pos;
            from = at + prefix.len();
            let preceded = at > 0 && {
                let c = bytes[at - 1];
                c.is_ascii_alphanumeric() || c == b'_' || c == b':'
            };
            if preceded {
                continue;
            }
            let mut i = from;
            for path in parse_tree(bytes, &mut i) {
                let mut full = base.clone();
                full.extend(path);
                out.push(full);
            }
        }
    }
    out
}

/// What is wrong with the sources' imports, one line each.
fn violations(sources: &BTreeMap<PathBuf, String>, layers: &Layers) -> Vec<String> {
    let mut modules: BTreeMap<Vec<String>, PathBuf> = BTreeMap::new();
    for file in sources.keys() {
        if file != Path::new("main.rs") {
            modules.insert(module_of(file), file.clone());
        }
    }
    // The lending protocols' folders: those the registry's `protocols!` lines name
    // (`=> crate::protocol::<folder>::<Type>`); folders that are no lending protocol (`dex/`: the
    // AMMs every protocol sells through) are protocol-neutral.
    let registered: BTreeSet<String> = sources
        .get(Path::new("protocol/registry.rs"))
        .map(|text| {
            text.lines()
                .filter_map(|l| l.split_once("=> crate::protocol::"))
                .filter_map(|(_, rest)| rest.split("::").next())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let protocol_folders: BTreeSet<String> = modules
        .keys()
        .filter(|m| m.len() >= 2 && m[0] == "protocol")
        .filter(|m| modules.get(&m[..2]).is_some_and(|f| f.ends_with("mod.rs")))
        .map(|m| m[1].clone())
        .filter(|folder| registered.is_empty() || registered.contains(folder))
        .collect();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (file, text) in sources {
        let module = module_of(file);
        let Some(top) = module.first() else { continue };
        if file == Path::new("main.rs") {
            continue;
        }
        let Some(&rank) = layers.rank.get(top) else {
            problems.push(format!(
                "{}: module `{top}` is not in ARCHITECTURE.md's layer table",
                file.display()
            ));
            continue;
        };
        let is_mod_file = file.ends_with("mod.rs");
        for path in paths_in(&code_of(text), &module, is_mod_file) {
            let Some(target_top) = path.first() else {
                continue;
            };
            if target_top != top {
                match layers.rank.get(target_top) {
                    Some(&r) if r < rank => {}
                    Some(&r) => problems.push(format!(
                        "{}: imports `{}` (layer {r}) from layer {rank}: layers import downward only",
                        file.display(),
                        path.join("::")
                    )),
                    None if modules.contains_key(&vec![target_top.clone()]) => problems.push(
                        format!("{}: module `{target_top}` is not in the layer table", file.display()),
                    ),
                    None => {}
                }
            }
            if layers.neutral.contains(top)
                && path.len() >= 2
                && path[0] == "protocol"
                && protocol_folders.contains(&path[1])
            {
                problems.push(format!(
                    "{}: the protocol-neutral layer `{top}` names `{}`",
                    file.display(),
                    path.join("::")
                ));
            }
            let target = (1..=path.len()).rev().find_map(|n| modules.get(&path[..n]));
            if let Some(target) = target {
                if target != file {
                    edges
                        .entry(file.clone())
                        .or_default()
                        .insert(target.clone());
                }
            }
        }
    }
    for component in strongly_connected(&edges) {
        let folders: BTreeSet<_> = component.iter().filter_map(|f| f.parent()).collect();
        if folders.len() > 1 {
            problems.push(format!(
                "import cycle across folders: {}",
                component
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" <-> ")
            ));
        }
    }
    problems
}

/// The strongly connected components of more than one file (Tarjan).
fn strongly_connected(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on: BTreeSet<&'a PathBuf>,
        next: usize,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        if let Some(ws) = s.edges.get(v) {
            for w in ws {
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if s.on.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn project() -> (BTreeMap<PathBuf, String>, Layers) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let markdown =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("reading ARCHITECTURE.md");
    (read_sources(&root.join("src")), read_layers(&markdown))
}

#[test]
fn layers_import_downward_only() {
    let (sources, layers) = project();
    let problems = violations(&sources, &layers);
    assert!(
        problems.is_empty(),
        "layering violations:\n{}",
        problems.join("\n")
    );
    let tops: BTreeSet<String> = sources
        .keys()
        .filter(|f| f.components().count() > 1 || !matches!(f.to_str(), Some("lib.rs" | "main.rs")))
        .filter_map(|f| module_of(f).first().cloned())
        .collect();
    let listed: BTreeSet<String> = layers.rank.keys().cloned().collect();
    assert_eq!(
        tops, listed,
        "ARCHITECTURE.md's layer table lists exactly the modules of src/"
    );
}

#[test]
fn the_layer_check_catches_wrong_imports() {
    let (sources, layers) = project();
    let with = |file: &str, line: &str| {
        let mut s = sources.clone();
        let text = s.get_mut(Path::new(file)).expect("file exists");
        text.insert_str(0, &format!("{line}\n"));
        violations(&s, &layers)
    };
    // An upward import.
    let p = with("math/fixed.rs", "use crate::engine::replay::replay;");
    assert!(
        p.iter()
            .any(|l| l.contains("math/fixed.rs") && l.contains("downward")),
        "{p:?}"
    );
    // A grouped upward import.
    let p = with(
        "evm/tx.rs",
        "use crate::{error::Result, strategy::{Instance, Intent}};",
    );
    assert!(p.iter().any(|l| l.contains("strategy::Instance")), "{p:?}");
    // A protocol's own type in the engine.
    let p = with(
        "engine/whatif.rs",
        "use crate::protocol::aave_v3::AaveV3Market;",
    );
    assert!(p.iter().any(|l| l.contains("protocol-neutral")), "{p:?}");
    // Every registered protocol's folder counts; the AMMs' does not.
    for folder in ["aave_v2", "compound"] {
        let p = with(
            "engine/runner.rs",
            &format!("use crate::protocol::{folder}::Whatever;"),
        );
        assert!(
            p.iter().any(|l| l.contains("protocol-neutral")),
            "{folder}: {p:?}"
        );
    }
    let p = with("engine/runner.rs", "use crate::protocol::dex::RealDex;");
    assert!(!p.iter().any(|l| l.contains("protocol-neutral")), "{p:?}");
    // A cycle between folders of one layer.
    let p = with(
        "protocol/market.rs",
        "use crate::protocol::aave_v3::AaveV3Market;",
    );
    assert!(p.iter().any(|l| l.contains("import cycle")), "{p:?}");
    // super:: resolves against the file's module (here: the crate root's `engine`).
    let p = with("math/mod.rs", "use super::engine::replay;");
    assert!(p.iter().any(|l| l.contains("math/mod.rs")), "{p:?}");
}
