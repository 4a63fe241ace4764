//! Graph validation in two phases, every problem at once, each with where it is.
//!
//! *Structure*: ids, kinds, props against each kind's schema, pads, directions,
//! media types (codecs included), double inputs, unlinked pads, cycles.
//! *Context*: what each node needs from this machine (files, devices,
//! elements, encoders, the platform), asked of each kind. Both phases run and
//! report together, so a user fixes a graph in one round.
//!
//! Locations are JSON Pointers into the graph document (`/nodes/2/props/width`,
//! `/links/0/to`), which read the same for a TOML file and a JSON request body.

use crate::graph::{GraphSpec, PadRef};
use crate::node::{Finding, PadDirection, PadSpec};
use crate::registry::Registry;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ProblemCode {
    EmptyGraph,
    InvalidNodeId,
    DuplicateNodeId,
    UnknownKind,
    InvalidProp,
    BadPadRef,
    MissingNode,
    UnknownPad,
    WrongDirection,
    MediaMismatch,
    InputLinkedTwice,
    UnlinkedPad,
    Cycle,
    /// Context: a file the node reads does not exist.
    MissingFile,
    /// Context: a media element the node needs is not installed.
    MissingElement,
    /// Context: a device, encoder or service is not usable on this machine.
    Unavailable,
    /// Context: the props ask for what this platform cannot do.
    Unsupported,
    /// An `optional` node whose loss would take a part that records with it.
    InvalidOptional,
}

/// One thing wrong with a graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// JSON Pointer into the graph document.
    pub location: String,
    pub code: ProblemCode,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = if self.location.is_empty() { "/" } else { &self.location };
        write!(f, "{loc}: {}", self.message)
    }
}

/// All the problems of a graph that did not validate (never empty).
#[derive(Debug, Clone, thiserror::Error)]
pub struct ValidationErrors {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "graph has {} problem(s)", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// A link whose endpoints were resolved against the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLink {
    pub from_node: usize,
    pub from_pad: String,
    pub to_node: usize,
    pub to_pad: String,
}

/// A graph that passed validation. Only this type can be handed to a backend,
/// so nothing is ever started from a graph with problems.
#[derive(Debug, Clone)]
pub struct ValidatedGraph {
    spec: GraphSpec,
    links: Vec<ResolvedLink>,
    order: Vec<usize>,
    /// Per optional node: itself and every node that cannot run without it.
    drops: Vec<(usize, Vec<usize>)>,
    /// Context problems of optional parts: the pipeline runs without them.
    warnings: Vec<Problem>,
}

impl ValidatedGraph {
    pub fn spec(&self) -> &GraphSpec {
        &self.spec
    }

    pub fn links(&self) -> &[ResolvedLink] {
        &self.links
    }

    /// Node indices with every node after the nodes that feed it.
    pub fn topological_order(&self) -> &[usize] {
        &self.order
    }

    /// Links leaving `node.pad`.
    pub fn links_from<'a>(&'a self, node: usize, pad: &'a str) -> impl Iterator<Item = &'a ResolvedLink> {
        self.links.iter().filter(move |l| l.from_node == node && l.from_pad == pad)
    }

    /// The link entering `node.pad`, if any.
    pub fn link_to(&self, node: usize, pad: &str) -> Option<&ResolvedLink> {
        self.links.iter().find(|l| l.to_node == node && l.to_pad == pad)
    }

    /// What goes when optional node `node` cannot run: itself and every node
    /// left without a required input (or without any input) by its loss, in
    /// topological order. Empty for a node that is not optional.
    pub fn dropped_with(&self, node: usize) -> &[usize] {
        self.drops.iter().find(|(o, _)| *o == node).map_or(&[], |(_, d)| d)
    }

    /// The optional node whose loss takes `node` with it (the closest one
    /// when optional parts nest), if any.
    pub fn optional_owner(&self, node: usize) -> Option<usize> {
        self.drops.iter().filter(|(_, d)| d.contains(&node)).min_by_key(|(_, d)| d.len()).map(|(o, _)| *o)
    }

    /// Context problems of optional parts: the pipeline starts without them.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }
}

/// The nodes that cannot run once `start` is gone: `start`, then every node
/// whose required inputs, or all of whose inputs, are fed only by dropped
/// nodes. In topological order when `order` is.
fn cascade(
    start: usize,
    links: &[ResolvedLink],
    required: &dyn Fn(usize, &str) -> bool,
    order: &[usize],
) -> Vec<usize> {
    let mut dropped = vec![start];
    loop {
        let before = dropped.len();
        for &n in order {
            if dropped.contains(&n) {
                continue;
            }
            let inputs: Vec<&ResolvedLink> = links.iter().filter(|l| l.to_node == n).collect();
            let lost = |l: &&ResolvedLink| dropped.contains(&l.from_node);
            let starved = inputs.iter().filter(|l| required(n, &l.to_pad)).any(lost)
                || (!inputs.is_empty() && inputs.iter().all(lost));
            if starved {
                dropped.push(n);
            }
        }
        if dropped.len() == before {
            break;
        }
    }
    let mut sorted: Vec<usize> = order.iter().copied().filter(|n| dropped.contains(n)).collect();
    sorted.retain(|&n| n != start);
    sorted.insert(0, start);
    sorted
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Validates `spec` against `registry` in both phases, collecting every problem.
pub fn validate<S: ?Sized + 'static>(
    spec: &GraphSpec,
    registry: &Registry<S>,
) -> Result<ValidatedGraph, ValidationErrors> {
    let mut problems = Vec::new();
    let mut push = |location: String, code: ProblemCode, message: String| {
        problems.push(Problem { location, code, message });
    };

    if spec.nodes.is_empty() {
        push("/nodes".into(), ProblemCode::EmptyGraph, "the graph has no nodes".into());
    }

    // Nodes: ids, kinds, props. `index` maps each id to its first declaration.
    let mut index: HashMap<&str, usize> = HashMap::new();
    // Context findings wait until the links say which nodes are optional parts.
    let mut context: Vec<(usize, Finding)> = Vec::new();
    for (i, node) in spec.nodes.iter().enumerate() {
        let at = format!("/nodes/{i}");
        if !valid_id(&node.id) {
            push(
                format!("{at}/id"),
                ProblemCode::InvalidNodeId,
                format!("node id {:?} must be 1-64 letters, digits, '-' or '_'", node.id),
            );
        } else if let Some(first) = index.get(node.id.as_str()) {
            push(
                format!("{at}/id"),
                ProblemCode::DuplicateNodeId,
                format!("duplicate node id `{}` (first declared at /nodes/{first})", node.id),
            );
        } else {
            index.insert(&node.id, i);
        }
        match registry.check_props(&node.kind, &node.props) {
            // Context checks need props the schema accepts.
            Some(found) if found.is_empty() => {
                let kind = registry.get(&node.kind).expect("checked above");
                context.extend(kind.check_context(&node.props).into_iter().map(|f| (i, f)));
            }
            None => {
                let hint = registry.suggest(&node.kind).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
                push(
                    format!("{at}/kind"),
                    ProblemCode::UnknownKind,
                    format!("node `{}` has unknown kind `{}`{hint}", node.id, node.kind),
                );
            }
            Some(found) => {
                for f in found {
                    push_finding(&mut push, &at, &node.id, f);
                }
            }
        }
    }

    let pad_of = |node: usize, pad: &str, dir: PadDirection| -> Option<&PadSpec> {
        registry.descriptor(&spec.nodes[node].kind).and_then(|d| d.pad(pad, dir))
    };

    // Links: endpoints, directions, media types.
    let mut links = Vec::new();
    let mut linked_inputs: HashMap<(usize, &str), usize> = HashMap::new();
    for (li, link) in spec.links.iter().enumerate() {
        let mut ends = [None, None];
        for (slot, (field, text, dir)) in
            [("from", &link.from, PadDirection::Out), ("to", &link.to, PadDirection::In)].into_iter().enumerate()
        {
            let at = format!("/links/{li}/{field}");
            let Some(pad_ref) = PadRef::parse(text) else {
                push(at, ProblemCode::BadPadRef, format!("`{text}` is not of the form `node.pad`"));
                continue;
            };
            let Some(&node) = index.get(pad_ref.node) else {
                push(
                    at,
                    ProblemCode::MissingNode,
                    format!("link {field} `{text}`: there is no node `{}`", pad_ref.node),
                );
                continue;
            };
            let Some(desc) = registry.descriptor(&spec.nodes[node].kind) else {
                continue; // unknown kind: already reported on the node
            };
            if desc.pad(pad_ref.pad, dir).is_none() {
                let dir_name = |d| if d == PadDirection::Out { "output" } else { "input" };
                let other = if dir == PadDirection::Out { PadDirection::In } else { PadDirection::Out };
                if desc.pad(pad_ref.pad, other).is_some() {
                    push(
                        at,
                        ProblemCode::WrongDirection,
                        format!("link {field} `{text}`: `{}` is an {} pad", pad_ref.pad, dir_name(other)),
                    );
                    continue;
                }
                let names: Vec<_> = desc.pads.iter().filter(|p| p.direction == dir).map(|p| p.name.as_str()).collect();
                push(
                    at,
                    ProblemCode::UnknownPad,
                    format!(
                        "`{}` ({}) has no {} pad `{}`; its {} pads: {}",
                        pad_ref.node,
                        desc.kind,
                        dir_name(dir),
                        pad_ref.pad,
                        dir_name(dir),
                        if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                    ),
                );
                continue;
            }
            ends[slot] = Some((node, pad_ref.pad));
        }
        let [Some((from_node, from_pad)), Some((to_node, to_pad))] = ends else { continue };
        if let (Some(out), Some(inp)) =
            (pad_of(from_node, from_pad, PadDirection::Out), pad_of(to_node, to_pad, PadDirection::In))
            && !inp.accepts(out.media)
        {
            push(
                format!("/links/{li}"),
                ProblemCode::MediaMismatch,
                format!("`{}` produces {} but `{}` accepts {}", link.from, out.media, link.to, inp.accepted()),
            );
            continue;
        }
        if let Some(first) = linked_inputs.insert((to_node, to_pad), li) {
            push(
                format!("/links/{li}/to"),
                ProblemCode::InputLinkedTwice,
                format!("input `{}` is already fed by /links/{first}", link.to),
            );
            continue;
        }
        links.push(ResolvedLink { from_node, from_pad: from_pad.to_owned(), to_node, to_pad: to_pad.to_owned() });
    }

    // Required pads left unlinked (only on nodes whose id and kind are sound).
    for (ni, node) in spec.nodes.iter().enumerate() {
        let id = node.id.as_str();
        if index.get(id) != Some(&ni) {
            continue;
        }
        let Some(desc) = registry.descriptor(&spec.nodes[ni].kind) else { continue };
        for pad in desc.pads.iter().filter(|p| p.required) {
            let linked = links.iter().any(|l| match pad.direction {
                PadDirection::In => l.to_node == ni && l.to_pad == pad.name,
                PadDirection::Out => l.from_node == ni && l.from_pad == pad.name,
            });
            // A bad link to this pad was reported already; don't report it twice.
            let mentioned = spec.links.iter().any(|l| {
                let text = if pad.direction == PadDirection::In { &l.to } else { &l.from };
                PadRef::parse(text) == Some(PadRef { node: id, pad: &pad.name })
            });
            if !linked && !mentioned {
                push(
                    format!("/nodes/{ni}"),
                    ProblemCode::UnlinkedPad,
                    format!(
                        "required {} pad `{id}.{}` ({}) is not linked",
                        if pad.direction == PadDirection::In { "input" } else { "output" },
                        pad.name,
                        pad.media
                    ),
                );
            }
        }
    }

    // Cycles, and the order in which a backend should build nodes.
    let mut graph: DiGraph<usize, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..spec.nodes.len()).map(|i| graph.add_node(i)).collect();
    for l in &links {
        graph.add_edge(nodes[l.from_node], nodes[l.to_node], ());
    }
    let mut order = Vec::new();
    // tarjan_scc returns components in reverse topological order.
    for scc in petgraph::algo::tarjan_scc(&graph).into_iter().rev() {
        let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
        if scc.len() > 1 || self_loop {
            let mut ids: Vec<&str> = scc.iter().map(|&n| spec.nodes[graph[n]].id.as_str()).collect();
            ids.sort_unstable();
            push("/links".into(), ProblemCode::Cycle, format!("links form a cycle through {}", ids.join(" → ")));
        }
        order.extend(scc.iter().map(|&n| graph[n]));
    }

    // Optional parts: what each takes with it must not include a part that
    // records (a node nothing else consumes) unless that part is optional too.
    let required = |n: usize, pad: &str| pad_of(n, pad, PadDirection::In).is_some_and(|p| p.required);
    let mut drops = Vec::new();
    for (ni, node) in spec.nodes.iter().enumerate().filter(|(_, n)| n.optional) {
        let dropped = cascade(ni, &links, &required, &order);
        for &d in &dropped[1..] {
            let other = &spec.nodes[d];
            if !other.optional && !links.iter().any(|l| l.from_node == d) {
                push(
                    format!("/nodes/{ni}/optional"),
                    ProblemCode::InvalidOptional,
                    format!(
                        "node `{}` is optional, but without it `{}` ({}) has nothing to record; \
                         mark optional only what the pipeline can record without",
                        node.id, other.id, other.kind
                    ),
                );
            }
        }
        drops.push((ni, dropped));
    }
    let mut warnings = Vec::new();
    for (ni, f) in context {
        let optional_part = drops.iter().any(|(_, d)| d.contains(&ni));
        let mut sink = |location: String, code: ProblemCode, message: String| {
            let problem = Problem { location, code, message };
            if optional_part { warnings.push(problem) } else { problems.push(problem) }
        };
        push_finding(&mut sink, &format!("/nodes/{ni}"), &spec.nodes[ni].id, f);
    }

    if problems.is_empty() {
        Ok(ValidatedGraph { spec: spec.clone(), links, order, drops, warnings })
    } else {
        Err(ValidationErrors { problems })
    }
}

fn push_finding(push: &mut impl FnMut(String, ProblemCode, String), at: &str, node: &str, f: Finding) {
    // Props problems point into `props` (the root for a missing field); a
    // context problem of the node as a whole points at the node.
    let location = if f.pointer.is_empty() && f.code != ProblemCode::InvalidProp {
        at.to_owned()
    } else {
        format!("{at}/props{}", f.pointer)
    };
    push(location, f.code, format!("node `{node}`: {}", f.message));
}

/// The context phase again, on a graph that validated earlier: what a node
/// needs may have gone since (a file deleted, a device unplugged). Problems
/// of optional parts are left out: the pipeline runs without them.
pub fn recheck_context<S: ?Sized + 'static>(
    graph: &ValidatedGraph,
    registry: &Registry<S>,
) -> Result<(), ValidationErrors> {
    let problems: Vec<Problem> = context_problems(graph, registry)
        .into_iter()
        .filter(|(n, _)| graph.optional_owner(*n).is_none())
        .map(|(_, p)| p)
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(ValidationErrors { problems }) }
}

/// The context phase again, per node (optional parts included): the runtime
/// starts a pipeline without the optional parts that have problems.
pub fn context_problems<S: ?Sized + 'static>(graph: &ValidatedGraph, registry: &Registry<S>) -> Vec<(usize, Problem)> {
    let mut problems = Vec::new();
    for (i, node) in graph.spec().nodes.iter().enumerate() {
        if let Some(kind) = registry.get(&node.kind) {
            let mut push = |location: String, code: ProblemCode, message: String| {
                problems.push((i, Problem { location, code, message }));
            };
            for f in kind.check_context(&node.props) {
                push_finding(&mut push, &format!("/nodes/{i}"), &node.id, f);
            }
        }
    }
    problems
}
