//! The event bus: engine events to logs and to every subscriber (SSE streams,
//! the clip recorder), each with a sequence number so a client can resume.
//!
//! Memory is bounded twice: the backlog keeps the last [`BACKLOG`] events for
//! `Last-Event-ID`, and each subscriber's channel holds at most [`PER_CLIENT`];
//! a client that falls further behind skips ahead (and is told so) instead of
//! making the daemon hold more.

use clipshot_core::{Event, EventSink};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events kept for clients that reconnect with `Last-Event-ID`.
pub const BACKLOG: usize = 512;
/// Events a subscriber may have unread before it skips ahead.
pub const PER_CLIENT: usize = 1024;

/// An event with its sequence number (the SSE `id`).
#[derive(Debug, Clone)]
pub struct Stamped {
    pub id: u64,
    pub event: Event,
}

#[derive(Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Stamped>>,
    state: Mutex<(u64, VecDeque<Arc<Stamped>>)>,
}

/// A new subscription: the backlog after the asked id, then the live channel.
#[derive(Debug)]
pub struct Subscription {
    pub replay: Vec<Arc<Stamped>>,
    /// Events that fell out of the backlog before they could be replayed.
    pub missed: u64,
    pub live: broadcast::Receiver<Arc<Stamped>>,
}

impl EventBus {
    pub fn new() -> Self {
        Self { tx: broadcast::channel(PER_CLIENT).0, state: Mutex::new((0, VecDeque::with_capacity(BACKLOG))) }
    }

    /// Subscribes, replaying what came after `after` (a previous `id`).
    /// Taken under the same lock as `emit`, so nothing falls between the two.
    pub fn subscribe(&self, after: Option<u64>) -> Subscription {
        let state = self.state.lock();
        let live = self.tx.subscribe();
        let Some(after) = after else { return Subscription { replay: Vec::new(), missed: 0, live } };
        let replay: Vec<_> = state.1.iter().filter(|e| e.id > after).cloned().collect();
        let oldest = replay.first().map_or(state.0 + 1, |e| e.id);
        Subscription { missed: oldest.saturating_sub(after + 1), replay, live }
    }

    /// The id of the newest event.
    pub fn last_id(&self) -> u64 {
        self.state.lock().0
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventSink for EventBus {
    fn emit(&self, event: Event) {
        tracing::debug!(event = event.name(), payload = ?event, "event");
        let mut state = self.state.lock();
        state.0 += 1;
        let stamped = Arc::new(Stamped { id: state.0, event });
        if state.1.len() == BACKLOG {
            state.1.pop_front();
        }
        state.1.push_back(Arc::clone(&stamped));
        let _ = self.tx.send(stamped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u64) -> Event {
        Event::ConfigChanged { keys: vec![n.to_string()] }
    }

    #[test]
    fn resuming_replays_what_came_after_and_counts_what_fell_out() {
        let bus = EventBus::new();
        for n in 0..(BACKLOG as u64 + 10) {
            bus.emit(ev(n));
        }
        let s = bus.subscribe(Some(BACKLOG as u64 + 5));
        assert_eq!(
            s.replay.iter().map(|e| e.id).collect::<Vec<_>>(),
            (BACKLOG as u64 + 6..=BACKLOG as u64 + 10).collect::<Vec<_>>()
        );
        assert_eq!(s.missed, 0);
        // Asked for id 3, but the backlog starts at id 11: 7 events are gone.
        let s = bus.subscribe(Some(3));
        assert_eq!(s.replay.len(), BACKLOG);
        assert_eq!(s.missed, 7);
        assert!(bus.subscribe(None).replay.is_empty());
    }

    #[tokio::test]
    async fn a_subscriber_sees_what_is_emitted_after_it_subscribed() {
        let bus = EventBus::new();
        bus.emit(ev(1));
        let mut s = bus.subscribe(None);
        bus.emit(ev(2));
        let got = s.live.recv().await.unwrap();
        assert_eq!(got.id, 2);
        assert_eq!(got.event, ev(2));
    }
}
