//! Validation of graphs against a registry of test kinds (no media stack needed).

use clipshot_core::validate::validate;
use clipshot_core::{
    Finding, GraphSpec, Implementation, MediaType, NodeDescriptor, NodeKind, PadSpec, ProblemCode, Props,
    RegistryError, Runtime,
};
use proptest::prelude::*;
use std::sync::Arc;

/// The test backend: segments are nothing (nothing is built here).
type Registry = clipshot_core::Registry<()>;

#[derive(schemars::JsonSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SourceProps {
    #[schemars(range(min = 16, max = 7680))]
    width: Option<u32>,
}

#[derive(schemars::JsonSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoProps {}

struct Kind(NodeDescriptor);

impl NodeKind<()> for Kind {
    fn descriptor(&self) -> &NodeDescriptor {
        &self.0
    }
    fn runtime(&self) -> Runtime<'_, ()> {
        Runtime::Segment(&())
    }
}

fn desc<P: schemars::JsonSchema>(kind: &str, summary: &str, pads: Vec<PadSpec>) -> NodeDescriptor {
    NodeDescriptor::new::<P>(kind, summary, Implementation::Segment, pads)
}

#[derive(schemars::JsonSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FileProps {
    path: String,
}

/// A source whose context check looks for its file, like `capture.file`.
struct FileSource(NodeDescriptor);

impl NodeKind<()> for FileSource {
    fn descriptor(&self) -> &NodeDescriptor {
        &self.0
    }
    fn check_context(&self, props: &Props) -> Vec<Finding> {
        let path = props["path"].as_str().unwrap_or_default();
        if std::path::Path::new(path).exists() {
            Vec::new()
        } else {
            vec![Finding::new("/path", ProblemCode::MissingFile, format!("{path} does not exist"))]
        }
    }
    fn runtime(&self) -> Runtime<'_, ()> {
        Runtime::Segment(&())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    let kinds = [
        desc::<SourceProps>(
            "capture.test",
            "source",
            vec![PadSpec::output("video", MediaType::RawVideo), PadSpec::output("audio", MediaType::RawAudio)],
        ),
        desc::<NoProps>(
            "encode.h264",
            "encoder",
            vec![
                PadSpec::input("video", MediaType::RawVideo),
                PadSpec::output("video", MediaType::H264).required(true),
            ],
        ),
        desc::<NoProps>(
            "encode.aac",
            "encoder",
            vec![PadSpec::input("audio", MediaType::RawAudio), PadSpec::output("audio", MediaType::Aac).required(true)],
        ),
        desc::<NoProps>(
            "encode.opus",
            "encoder",
            vec![
                PadSpec::input("audio", MediaType::RawAudio),
                PadSpec::output("audio", MediaType::Opus).required(true),
            ],
        ),
        desc::<NoProps>(
            "replay.ring",
            "ring",
            vec![PadSpec::input("video", MediaType::H264), PadSpec::input("audio", MediaType::Aac).required(false)],
        ),
        desc::<NoProps>(
            "sink.file",
            "file",
            vec![
                PadSpec::input("video", MediaType::H264),
                PadSpec::input("audio", MediaType::Aac).or(MediaType::Opus).required(false),
            ],
        ),
    ];
    for k in kinds {
        r.register(Arc::new(Kind(k))).unwrap();
    }
    let file = desc::<FileProps>("capture.file", "file", vec![PadSpec::output("audio", MediaType::RawAudio)]);
    r.register(Arc::new(FileSource(file))).unwrap();
    r
}

fn graph(toml: &str) -> GraphSpec {
    GraphSpec::from_toml(toml).unwrap()
}

const GOOD: &str = r#"
name = "good"
[[nodes]]
id = "src"
kind = "capture.test"
props = { width = 640 }
[[nodes]]
id = "enc"
kind = "encode.h264"
[[nodes]]
id = "ring"
kind = "replay.ring"
[[links]]
from = "src.video"
to = "enc.video"
[[links]]
from = "enc.video"
to = "ring.video"
"#;

#[test]
fn a_sound_graph_validates_in_topological_order() {
    let g = validate(&graph(GOOD), &registry()).unwrap();
    assert_eq!(g.topological_order(), &[0, 1, 2]);
    assert_eq!(g.links().len(), 2);
}

#[test]
fn duplicate_kinds_are_a_typed_error() {
    let mut r = registry();
    let dup = desc::<NoProps>("replay.ring", "again", vec![]);
    assert!(matches!(r.register(Arc::new(Kind(dup))), Err(RegistryError::Duplicate(k)) if k == "replay.ring"));
}

#[test]
fn every_problem_is_reported_at_once_with_its_location() {
    let text = r#"
name = "bad"
[[nodes]]
id = "src"
kind = "capture.test"
props = { width = 8, height = 2 }
[[nodes]]
id = "src"
kind = "capture.tset"
[[nodes]]
id = "enc"
kind = "encode.h264"
[[nodes]]
id = "ring"
kind = "replay.ring"
[[links]]
from = "src.audio"
to = "enc.video"
[[links]]
from = "enc.video"
to = "ghost.video"
[[links]]
from = "enc.picture"
to = "ring.audio"
[[links]]
from = "srcvideo"
to = "ring.video"
"#;
    let errors = validate(&graph(text), &registry()).unwrap_err();
    let found: Vec<(ProblemCode, &str)> = errors.problems.iter().map(|p| (p.code, p.location.as_str())).collect();
    for expected in [
        (ProblemCode::InvalidProp, "/nodes/0/props/width"),
        (ProblemCode::InvalidProp, "/nodes/0/props"), // unknown `height`
        (ProblemCode::DuplicateNodeId, "/nodes/1/id"),
        (ProblemCode::UnknownKind, "/nodes/1/kind"),
        (ProblemCode::MediaMismatch, "/links/0"),
        (ProblemCode::MissingNode, "/links/1/to"),
        (ProblemCode::UnknownPad, "/links/2/from"),
        (ProblemCode::BadPadRef, "/links/3/from"),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:#?}");
    }
    let unknown = errors.problems.iter().find(|p| p.code == ProblemCode::UnknownKind).unwrap();
    assert!(unknown.message.contains("did you mean `capture.test`?"), "{}", unknown.message);
    let height = errors.problems.iter().find(|p| p.location == "/nodes/0/props").unwrap();
    assert!(height.message.contains("height"), "{}", height.message);
}

#[test]
fn unlinked_required_pads_wrong_directions_and_double_inputs_are_reported() {
    let text = r#"
name = "g"
[[nodes]]
id = "src"
kind = "capture.test"
[[nodes]]
id = "src2"
kind = "capture.test"
[[nodes]]
id = "enc"
kind = "encode.h264"
[[nodes]]
id = "ring"
kind = "replay.ring"
[[links]]
from = "src.video"
to = "enc.video"
[[links]]
from = "src2.video"
to = "enc.video"
[[links]]
from = "ring.video"
to = "src.video"
"#;
    let errors = validate(&graph(text), &registry()).unwrap_err();
    let codes: Vec<ProblemCode> = errors.problems.iter().map(|p| p.code).collect();
    assert!(codes.contains(&ProblemCode::InputLinkedTwice), "{codes:?}");
    assert!(codes.contains(&ProblemCode::WrongDirection), "{codes:?}");
    // enc.video (output) and ring.video (input) are left unlinked.
    let unlinked: Vec<&str> =
        errors.problems.iter().filter(|p| p.code == ProblemCode::UnlinkedPad).map(|p| p.message.as_str()).collect();
    assert_eq!(unlinked.len(), 2, "{unlinked:?}");
}

#[test]
fn cycles_are_reported_with_their_nodes() {
    let mut r = registry();
    let pass = desc::<NoProps>(
        "filter.pass",
        "pass-through",
        vec![PadSpec::input("video", MediaType::RawVideo), PadSpec::output("video", MediaType::RawVideo)],
    );
    r.register(Arc::new(Kind(pass))).unwrap();
    let text = r#"
name = "loop"
[[nodes]]
id = "a"
kind = "filter.pass"
[[nodes]]
id = "b"
kind = "filter.pass"
[[links]]
from = "a.video"
to = "b.video"
[[links]]
from = "b.video"
to = "a.video"
"#;
    let errors = validate(&graph(text), &r).unwrap_err();
    let cycle = errors.problems.iter().find(|p| p.code == ProblemCode::Cycle).expect("a cycle");
    assert!(cycle.message.contains('a') && cycle.message.contains('b'), "{}", cycle.message);
}

#[test]
fn codecs_are_part_of_the_media_type() {
    // Opus into the MP4 ring is refused; the same encoder into a file sink is fine.
    let text = r#"
name = "codecs"
[[nodes]]
id = "src"
kind = "capture.test"
[[nodes]]
id = "venc"
kind = "encode.h264"
[[nodes]]
id = "opus"
kind = "encode.opus"
[[nodes]]
id = "ring"
kind = "replay.ring"
[[links]]
from = "src.video"
to = "venc.video"
[[links]]
from = "src.audio"
to = "opus.audio"
[[links]]
from = "venc.video"
to = "ring.video"
[[links]]
from = "opus.audio"
to = "ring.audio"
"#;
    let errors = validate(&graph(text), &registry()).unwrap_err();
    assert_eq!(errors.problems.len(), 1, "{errors}");
    let p = &errors.problems[0];
    assert_eq!((p.code, p.location.as_str()), (ProblemCode::MediaMismatch, "/links/3"));
    assert!(p.message.contains("audio/opus") && p.message.contains("audio/aac"), "{}", p.message);
    let into_file = text.replace("kind = \"replay.ring\"", "kind = \"sink.file\"");
    validate(&graph(&into_file), &registry()).unwrap();
}

#[test]
fn context_problems_are_reported_with_the_structural_ones() {
    let text = r#"
name = "ctx"
[[nodes]]
id = "f"
kind = "capture.file"
props = { path = "/no/such/recording.mp4" }
[[nodes]]
id = "aenc"
kind = "encode.aac"
[[links]]
from = "f.audio"
to = "aenc.audio"
[[links]]
from = "aenc.audio"
to = "ghost.audio"
"#;
    let errors = validate(&graph(text), &registry()).unwrap_err();
    let found: Vec<(ProblemCode, &str)> = errors.problems.iter().map(|p| (p.code, p.location.as_str())).collect();
    assert!(found.contains(&(ProblemCode::MissingFile, "/nodes/0/props/path")), "{found:?}");
    assert!(found.contains(&(ProblemCode::MissingNode, "/links/1/to")), "{found:?}");
}

#[test]
fn an_empty_graph_does_not_validate() {
    let errors = validate(&graph("name = \"empty\""), &registry()).unwrap_err();
    assert_eq!(errors.problems[0].code, ProblemCode::EmptyGraph);
}

fn arb_ref() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("src.video".to_owned()),
        Just("enc.video".to_owned()),
        Just("ring.audio".to_owned()),
        "[a-z.]{0,12}",
        ".*",
    ]
}

fn arb_props() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,8}".prop_map(serde_json::Value::from),
    ];
    prop::collection::btree_map(prop_oneof![Just("width".to_owned()), ".{0,6}"], leaf, 0..4)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_graphs_never_panic_the_validator(
        nodes in prop::collection::vec(
            (prop_oneof![Just("src".to_owned()), Just("enc".to_owned()), Just("ring".to_owned()), ".{0,10}"],
             prop_oneof![Just("capture.test".to_owned()), Just("encode.h264".to_owned()), Just("replay.ring".to_owned()), ".{0,14}"],
             arb_props()),
            0..7),
        links in prop::collection::vec((arb_ref(), arb_ref()), 0..8),
    ) {
        let spec = GraphSpec {
            name: "p".into(),
            description: String::new(),
            nodes: nodes.into_iter().map(|(id, kind, props)| clipshot_core::NodeDecl { id, kind, props, optional: false }).collect(),
            links: links.into_iter().map(|(from, to)| clipshot_core::LinkDecl { from, to }).collect(),
        };
        if let Err(errors) = validate(&spec, &registry()) {
            prop_assert!(!errors.problems.is_empty());
            for p in &errors.problems {
                prop_assert!(p.location.starts_with('/'));
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_parsers(text in ".{0,200}") {
        let _ = GraphSpec::from_toml(&text);
        let _ = GraphSpec::from_json(&text);
    }
}
