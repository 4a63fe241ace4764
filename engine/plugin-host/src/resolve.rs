//! The order plugins load in: each after its dependencies. A plugin that
//! cannot load is refused with every reason, and so is whatever depends on
//! it, so one broken plugin never takes the engine down with it.

use crate::manifest::Manifest;
use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::RandomState;

/// Named in full: the workspace builds petgraph without `std`, which drops
/// the default hasher. Iteration follows insertion, so it stays deterministic.
type Graph<'a> = DiGraphMap<&'a str, (), RandomState>;

/// Why a plugin cannot load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ResolveProblem {
    #[error("needs ClipShot {required}, but this is ClipShot {engine}")]
    Engine { required: VersionReq, engine: Version },
    #[error("needs `{dependency}` {required}, which is not installed")]
    Missing { dependency: String, required: VersionReq },
    #[error("needs `{dependency}` {required}, but {found} is installed")]
    Incompatible { dependency: String, required: VersionReq, found: Version },
    /// `cycle` starts and ends with the refused plugin.
    #[error("depends on itself through a cycle: {}", .cycle.join(" → "))]
    Cycle { cycle: Vec<String> },
    #[error("depends on `{dependency}`, which cannot load")]
    DependencyRefused { dependency: String },
    #[error("more than one plugin folder has the id `{id}`")]
    Duplicate { id: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The ids that can load, each after its dependencies; ties by id.
    pub order: Vec<String>,
    /// The ids that cannot, with every reason.
    pub refused: BTreeMap<String, Vec<ResolveProblem>>,
}

impl Resolution {
    pub fn is_refused(&self, id: &str) -> bool {
        self.refused.contains_key(id)
    }
}

/// Which of `manifests` can load against `engine_version`, and in what order.
pub fn load_order(manifests: &[Manifest], engine_version: &Version) -> Resolution {
    let mut refused: BTreeMap<String, Vec<ResolveProblem>> = BTreeMap::new();

    // Two folders with one id: neither is the real one, so both are refused.
    let mut by_id: BTreeMap<&str, Vec<&Manifest>> = BTreeMap::new();
    for manifest in manifests {
        by_id.entry(manifest.id.as_str()).or_default().push(manifest);
    }
    let mut plugins: BTreeMap<&str, &Manifest> = BTreeMap::new();
    for (id, found) in by_id {
        match found.as_slice() {
            [one] => {
                plugins.insert(id, one);
            }
            _ => refused.entry(id.to_owned()).or_default().push(ResolveProblem::Duplicate { id: id.to_owned() }),
        }
    }

    // Edges point from a plugin to what it depends on.
    let mut graph = Graph::new();
    for &id in plugins.keys() {
        graph.add_node(id);
    }
    for (&id, manifest) in &plugins {
        let mut problems = Vec::new();
        // The manifest check guarantees `clipshot`; a hand-built one without it runs anywhere.
        if let Some(required) = manifest.engines.get("clipshot")
            && !required.matches(engine_version)
        {
            problems.push(ResolveProblem::Engine { required: required.clone(), engine: engine_version.clone() });
        }
        for (dependency, required) in &manifest.dependencies {
            match plugins.get(dependency.as_str()) {
                Some(found) => {
                    graph.add_edge(id, found.id.as_str(), ());
                    if !required.matches(&found.version) {
                        problems.push(ResolveProblem::Incompatible {
                            dependency: dependency.clone(),
                            required: required.clone(),
                            found: found.version.clone(),
                        });
                    }
                }
                // A duplicate is refused already; the spreading below says so.
                None if refused.contains_key(dependency) => {}
                None => problems
                    .push(ResolveProblem::Missing { dependency: dependency.clone(), required: required.clone() }),
            }
        }
        if !problems.is_empty() {
            refused.entry(id.to_owned()).or_default().extend(problems);
        }
    }

    // Every plugin on a cycle is refused, each shown the cycle from itself.
    let mut component: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, scc) in tarjan_scc(&graph).into_iter().enumerate() {
        let on_cycle = scc.len() > 1 || graph.contains_edge(scc[0], scc[0]);
        let members: BTreeSet<&str> = scc.iter().copied().collect();
        for &id in &scc {
            component.insert(id, index);
            if on_cycle {
                let cycle = cycle_through(&graph, id, &members);
                refused.entry(id.to_owned()).or_default().push(ResolveProblem::Cycle { cycle });
            }
        }
    }

    // A refused dependency refuses its dependents, transitively; the set
    // first, then the reasons, so each list comes out in dependency order.
    let mut unloadable: BTreeSet<String> = refused.keys().cloned().collect();
    loop {
        let before = unloadable.len();
        for (&id, manifest) in &plugins {
            if manifest.dependencies.keys().any(|d| unloadable.contains(d)) {
                unloadable.insert(id.to_owned());
            }
        }
        if unloadable.len() == before {
            break;
        }
    }
    for (&id, manifest) in &plugins {
        for dependency in manifest.dependencies.keys() {
            let same_cycle = component.get(id).is_some_and(|c| component.get(dependency.as_str()) == Some(c));
            if unloadable.contains(dependency) && !same_cycle {
                refused
                    .entry(id.to_owned())
                    .or_default()
                    .push(ResolveProblem::DependencyRefused { dependency: dependency.clone() });
            }
        }
    }

    // Kahn's algorithm over what is left, smallest id first among the ready.
    let loadable: BTreeSet<&str> = plugins.keys().copied().filter(|id| !refused.contains_key(*id)).collect();
    let mut waiting: BTreeMap<&str, usize> = loadable.iter().map(|&id| (id, graph.neighbors(id).count())).collect();
    let mut ready: BTreeSet<&str> = waiting.iter().filter(|&(_, &n)| n == 0).map(|(&id, _)| id).collect();
    let mut order = Vec::with_capacity(loadable.len());
    while let Some(id) = ready.pop_first() {
        order.push(id.to_owned());
        for dependent in graph.neighbors_directed(id, Direction::Incoming) {
            if let Some(n) = waiting.get_mut(dependent) {
                *n -= 1;
                if *n == 0 {
                    ready.insert(dependent);
                }
            }
        }
    }
    debug_assert_eq!(order.len(), loadable.len(), "a loadable plugin waits on an unloadable one");

    Resolution { order, refused }
}

/// The shortest cycle from `start` back to itself inside its strongly
/// connected component: `[start, …, start]`.
fn cycle_through(graph: &Graph<'_>, start: &str, members: &BTreeSet<&str>) -> Vec<String> {
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        let mut next: Vec<&str> = graph.neighbors(at).filter(|n| members.contains(n)).collect();
        next.sort_unstable();
        for n in next {
            if n == start {
                let mut path = vec![at];
                while let Some(&before) = previous.get(path[path.len() - 1]) {
                    path.push(before);
                }
                // `previous` has no entry for `start`, so the walk ends there.
                path.reverse();
                path.push(start);
                return path.into_iter().map(str::to_owned).collect();
            }
            if !previous.contains_key(n) {
                previous.insert(n, at);
                queue.push_back(n);
            }
        }
    }
    vec![start.to_owned(), start.to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Author, Binary, Entry, Native, Os, PluginType};
    use std::path::PathBuf;

    fn engine() -> Version {
        Version::new(0, 1, 0)
    }

    fn plugin(id: &str, version: &str, deps: &[(&str, &str)]) -> Manifest {
        Manifest {
            id: id.to_owned(),
            name: id.to_owned(),
            names: BTreeMap::new(),
            version: Version::parse(version).unwrap(),
            api_version: "v1".to_owned(),
            plugin_type: PluginType::Optional,
            category: "test".to_owned(),
            description: BTreeMap::from([("en".to_owned(), "test".to_owned())]),
            author: Author { name: "test".to_owned(), email: None, url: None },
            license: "MIT".to_owned(),
            entry: Entry::default(),
            permissions: BTreeMap::new(),
            platforms: vec![Os::Linux],
            engines: BTreeMap::from([("clipshot".to_owned(), VersionReq::parse(">=0.1.0").unwrap())]),
            dependencies: deps.iter().map(|(d, r)| ((*d).to_owned(), VersionReq::parse(r).unwrap())).collect(),
            native: Native {
                abi_version: 1,
                binaries: BTreeMap::from([(
                    "linux-x64".to_owned(),
                    Binary { path: "lib/x.so".to_owned(), sha256: "0".repeat(64) },
                )]),
            },
            config_schema: None,
            config: serde_json::Map::new(),
            dir: PathBuf::from(format!("/plugins/{id}")),
        }
    }

    fn req(s: &str) -> VersionReq {
        VersionReq::parse(s).unwrap()
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn each_plugin_loads_after_its_dependencies() {
        let plugins = [
            plugin("com.x.app", "1.0.0", &[("com.x.ui", "^2"), ("com.x.base", "^1")]),
            plugin("com.x.ui", "2.3.0", &[("com.x.base", ">=1.1")]),
            plugin("com.x.base", "1.4.0", &[]),
            plugin("com.x.alone", "0.1.0", &[]),
            plugin("com.a.first", "0.1.0", &[]),
        ];
        let r = load_order(&plugins, &engine());
        assert!(r.refused.is_empty(), "{:?}", r.refused);
        // Ties go by id: `com.a.first`, `com.x.alone` and `com.x.base` are ready at once.
        assert_eq!(r.order, ids(&["com.a.first", "com.x.alone", "com.x.base", "com.x.ui", "com.x.app"]));

        // The input order does not matter.
        let mut reversed = plugins.to_vec();
        reversed.reverse();
        assert_eq!(load_order(&reversed, &engine()), r);
    }

    #[test]
    fn a_missing_dependency_refuses_the_plugin_and_its_dependents() {
        let plugins = [
            plugin("com.x.a", "1.0.0", &[("com.x.gone", "^1")]),
            plugin("com.x.b", "1.0.0", &[("com.x.a", "^1")]),
            plugin("com.x.c", "1.0.0", &[]),
        ];
        let r = load_order(&plugins, &engine());
        assert_eq!(r.order, ids(&["com.x.c"]));
        assert_eq!(
            r.refused["com.x.a"],
            [ResolveProblem::Missing { dependency: "com.x.gone".into(), required: req("^1") }]
        );
        assert_eq!(r.refused["com.x.b"], [ResolveProblem::DependencyRefused { dependency: "com.x.a".into() }]);
        assert_eq!(r.refused["com.x.a"][0].to_string(), "needs `com.x.gone` ^1, which is not installed");
        assert_eq!(r.refused["com.x.b"][0].to_string(), "depends on `com.x.a`, which cannot load");
    }

    #[test]
    fn an_incompatible_version_refuses_the_plugin() {
        let plugins = [plugin("com.x.a", "1.0.0", &[("com.x.base", "^2.1")]), plugin("com.x.base", "2.0.5", &[])];
        let r = load_order(&plugins, &engine());
        assert_eq!(r.order, ids(&["com.x.base"]));
        assert_eq!(
            r.refused["com.x.a"],
            [ResolveProblem::Incompatible {
                dependency: "com.x.base".into(),
                required: req("^2.1"),
                found: Version::new(2, 0, 5)
            }]
        );
        assert_eq!(r.refused["com.x.a"][0].to_string(), "needs `com.x.base` ^2.1, but 2.0.5 is installed");
    }

    #[test]
    fn every_plugin_on_a_cycle_is_refused_and_so_are_their_dependents() {
        let plugins = [
            plugin("com.x.a", "1.0.0", &[("com.x.b", "*")]),
            plugin("com.x.b", "1.0.0", &[("com.x.a", "*")]),
            plugin("com.x.c", "1.0.0", &[("com.x.a", "*")]),
            plugin("com.x.d", "1.0.0", &[("com.x.c", "*")]),
            plugin("com.x.e", "1.0.0", &[]),
        ];
        let r = load_order(&plugins, &engine());
        assert_eq!(r.order, ids(&["com.x.e"]));
        assert_eq!(r.refused["com.x.a"], [ResolveProblem::Cycle { cycle: ids(&["com.x.a", "com.x.b", "com.x.a"]) }]);
        assert_eq!(r.refused["com.x.b"], [ResolveProblem::Cycle { cycle: ids(&["com.x.b", "com.x.a", "com.x.b"]) }]);
        assert_eq!(r.refused["com.x.c"], [ResolveProblem::DependencyRefused { dependency: "com.x.a".into() }]);
        assert_eq!(r.refused["com.x.d"], [ResolveProblem::DependencyRefused { dependency: "com.x.c".into() }]);
        assert_eq!(
            r.refused["com.x.a"][0].to_string(),
            "depends on itself through a cycle: com.x.a → com.x.b → com.x.a"
        );
    }

    #[test]
    fn a_longer_cycle_is_shown_from_each_member() {
        let plugins = [
            plugin("com.x.a", "1.0.0", &[("com.x.b", "*")]),
            plugin("com.x.b", "1.0.0", &[("com.x.c", "*")]),
            plugin("com.x.c", "1.0.0", &[("com.x.a", "*")]),
        ];
        let r = load_order(&plugins, &engine());
        assert!(r.order.is_empty());
        assert_eq!(
            r.refused["com.x.c"],
            [ResolveProblem::Cycle { cycle: ids(&["com.x.c", "com.x.a", "com.x.b", "com.x.c"]) }]
        );
    }

    #[test]
    fn an_engine_range_that_excludes_this_engine_refuses_the_plugin() {
        let mut old = plugin("com.x.old", "1.0.0", &[]);
        old.engines.insert("clipshot".into(), req("^0.0.5"));
        let mut future = plugin("com.x.future", "1.0.0", &[]);
        future.engines.insert("clipshot".into(), req(">=2"));
        let plugins =
            [old, future, plugin("com.x.now", "1.0.0", &[]), plugin("com.x.user", "1.0.0", &[("com.x.old", "*")])];
        let r = load_order(&plugins, &engine());
        assert_eq!(r.order, ids(&["com.x.now"]));
        assert_eq!(r.refused["com.x.old"], [ResolveProblem::Engine { required: req("^0.0.5"), engine: engine() }]);
        assert_eq!(r.refused["com.x.future"], [ResolveProblem::Engine { required: req(">=2"), engine: engine() }]);
        assert_eq!(r.refused["com.x.user"], [ResolveProblem::DependencyRefused { dependency: "com.x.old".into() }]);
        assert_eq!(r.refused["com.x.future"][0].to_string(), "needs ClipShot >=2, but this is ClipShot 0.1.0");
    }

    #[test]
    fn two_folders_with_one_id_are_both_refused() {
        let mut second = plugin("com.x.twice", "2.0.0", &[]);
        second.dir = PathBuf::from("/plugins/twice-copy");
        let plugins = [
            plugin("com.x.twice", "1.0.0", &[]),
            second,
            plugin("com.x.user", "1.0.0", &[("com.x.twice", "*")]),
            plugin("com.x.other", "1.0.0", &[]),
        ];
        let r = load_order(&plugins, &engine());
        assert_eq!(r.order, ids(&["com.x.other"]));
        assert_eq!(r.refused["com.x.twice"], [ResolveProblem::Duplicate { id: "com.x.twice".into() }]);
        assert_eq!(r.refused["com.x.user"], [ResolveProblem::DependencyRefused { dependency: "com.x.twice".into() }]);
    }

    #[test]
    fn every_reason_is_listed() {
        let mut p = plugin("com.x.a", "1.0.0", &[("com.x.gone", "^1"), ("com.x.old", "^2"), ("com.x.broken", "*")]);
        p.engines.insert("clipshot".into(), req(">=9"));
        let mut broken = plugin("com.x.broken", "1.0.0", &[]);
        broken.engines.insert("clipshot".into(), req(">=9"));
        let plugins = [p, plugin("com.x.old", "1.0.0", &[]), broken];
        let r = load_order(&plugins, &engine());
        let codes: Vec<String> = r.refused["com.x.a"]
            .iter()
            .map(|problem| serde_json::to_value(problem).unwrap()["code"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(codes, ["engine", "missing", "incompatible", "dependency_refused"]);
        assert_eq!(
            serde_json::to_value(&r.refused["com.x.a"][1]).unwrap(),
            serde_json::json!({"code": "missing", "dependency": "com.x.gone", "required": "^1"})
        );
    }
}
