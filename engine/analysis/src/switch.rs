//! Switching a pipeline's game profile while it records.
//!
//! Restarting a pipeline would empty its replay ring, so a new profile is
//! not a new pipeline: [`select`] records the choice for the pipeline, and
//! each analysis processor that depends on the profile notices it at its
//! next input, emits what it had pending under the old profile and carries
//! on with one built for the new one. The choice also wins over the graph's
//! `profile` props when the pipeline starts again.

use clipshot_core::processor::{Input, Outputs, ProcessError, Processor, ProcessorContext};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::LazyLock;

/// Pipeline → (profile, generation).
static SELECTED: LazyLock<RwLock<HashMap<String, (String, u64)>>> = LazyLock::new(Default::default);

/// Makes `profile` the profile of `pipeline`'s analysis nodes, now and at
/// its next starts. The caller checks that the profile loads.
pub fn select(pipeline: &str, profile: &str) {
    let mut map = SELECTED.write();
    let generation = map.get(pipeline).map_or(0, |(_, g)| g + 1);
    map.insert(pipeline.to_owned(), (profile.to_owned(), generation));
}

/// The profile chosen for `pipeline` with [`select`], if any.
pub fn selected(pipeline: &str) -> Option<String> {
    SELECTED.read().get(pipeline).map(|(p, _)| p.clone())
}

/// Forgets the choice for `pipeline` (it was deleted).
pub fn forget(pipeline: &str) {
    SELECTED.write().remove(pipeline);
}

/// The choice and its generation, read together (a `select` between two
/// reads would be missed).
fn current(pipeline: &str) -> Option<(String, u64)> {
    SELECTED.read().get(pipeline).cloned()
}

/// The processor `build` makes for the pipeline's profile (the one chosen
/// with [`select`], else `props_profile`), rebuilt whenever it is switched.
pub(crate) fn switching(
    ctx: &ProcessorContext,
    props_profile: &str,
    build: impl Fn(&str, &ProcessorContext) -> Result<Box<dyn Processor>, String> + Send + 'static,
) -> Result<Box<dyn Processor>, String> {
    let chosen = current(&ctx.pipeline);
    let generation = chosen.as_ref().map(|(_, g)| *g);
    let profile = chosen.map_or_else(|| props_profile.to_owned(), |(p, _)| p);
    let inner = build(&profile, ctx)?;
    let owned = ctx.clone();
    Ok(Box::new(Switching {
        pipeline: ctx.pipeline.clone(),
        node: ctx.node.clone(),
        generation,
        inner,
        rebuild: Box::new(move |p| build(p, &owned)),
    }))
}

/// Builds the processor for a profile name.
type Rebuild = Box<dyn Fn(&str) -> Result<Box<dyn Processor>, String> + Send>;

/// A processor rebuilt whenever its pipeline's profile is switched.
struct Switching {
    pipeline: String,
    node: String,
    generation: Option<u64>,
    inner: Box<dyn Processor>,
    rebuild: Rebuild,
}

impl Switching {
    fn check(&mut self, out: &mut Outputs) {
        let chosen = current(&self.pipeline);
        let now = chosen.as_ref().map(|(_, g)| *g);
        if now == self.generation {
            return;
        }
        self.generation = now;
        let Some((profile, _)) = chosen else { return };
        // What the old profile had pending (an open highlight) is emitted first.
        self.inner.flush(out);
        self.inner = match (self.rebuild)(&profile) {
            Ok(p) => {
                tracing::info!(pipeline = %self.pipeline, node = %self.node, profile, "profile switched");
                p
            }
            Err(e) => {
                tracing::warn!(pipeline = %self.pipeline, node = %self.node, profile, "idle under this profile: {e}");
                Box::new(Idle)
            }
        };
    }
}

impl Processor for Switching {
    fn process(&mut self, pad: &str, input: Input<'_>, out: &mut Outputs) -> Result<(), ProcessError> {
        self.check(out);
        self.inner.process(pad, input, out)
    }

    fn flush(&mut self, out: &mut Outputs) {
        self.inner.flush(out);
    }
}

/// A node with nothing to do under the current profile (reading text with
/// a profile that names no region).
pub(crate) struct Idle;

impl Processor for Idle {
    fn process(&mut self, _pad: &str, _input: Input<'_>, _out: &mut Outputs) -> Result<(), ProcessError> {
        Ok(())
    }
}
