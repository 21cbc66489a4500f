//! The bus between the loop and its front ends.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::{Published, Request, StopCause};

/// Requests queued for the loop, and the most it applies per tick. A page or a script sends a
/// few; a full queue means the loop is behind and the sender should retry, not pile up more.
pub const REQUEST_QUEUE: usize = 64;

/// The loop's side of the bus, until [`Runner::new`](crate::Runner::new) takes it; it hands
/// out [`Handle`]s to the front ends and a stop switch to whoever stops the run (the signal
/// handler).
#[derive(Debug)]
pub struct Bus {
    publish: watch::Sender<Option<Arc<Published>>>,
    requests_tx: mpsc::Sender<Request>,
    requests: mpsc::Receiver<Request>,
    stop_tx: watch::Sender<Option<StopCause>>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    /// A bus with nothing published yet and no stop requested.
    pub fn new() -> Self {
        let (publish, _) = watch::channel(None);
        let (requests_tx, requests) = mpsc::channel(REQUEST_QUEUE);
        let (stop_tx, _) = watch::channel(None);
        Self {
            publish,
            requests_tx,
            requests,
            stop_tx,
        }
    }

    /// A front end's handle.
    pub fn handle(&self) -> Handle {
        Handle {
            published: self.publish.subscribe(),
            requests: self.requests_tx.clone(),
            stop: self.stop_tx.subscribe(),
        }
    }

    /// The switch that stops the run: the loop ends at its next tick, puts the site into its
    /// safe state, and every front end sees [`Handle::stopped`].
    pub fn stopper(&self) -> watch::Sender<Option<StopCause>> {
        self.stop_tx.clone()
    }

    /// The loop's ends. The bus keeps no sender of snapshots: when the loop ends, the
    /// published channel closes and a front end that records them knows it has seen the last.
    pub(crate) fn into_loop_side(self) -> LoopSide {
        LoopSide {
            publish: self.publish,
            requests: self.requests,
            stop_switch: self.stop_tx,
        }
    }
}

/// The loop's ends of the bus.
pub(crate) struct LoopSide {
    pub(crate) publish: watch::Sender<Option<Arc<Published>>>,
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) stop_switch: watch::Sender<Option<StopCause>>,
}

/// What a front end holds of the loop: the published snapshots, the request queue and the stop
/// signal. Nothing else: not the site, not another front end.
#[derive(Debug, Clone)]
pub struct Handle {
    published: watch::Receiver<Option<Arc<Published>>>,
    requests: mpsc::Sender<Request>,
    stop: watch::Receiver<Option<StopCause>>,
}

impl Handle {
    /// The snapshots: `None` until the first tick, then the newest. Never hold a borrow of it
    /// across an `.await`: the loop's publish waits for the borrow to end.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Published>>> {
        self.published.clone()
    }

    /// The newest snapshot, if the loop has ticked.
    pub fn latest(&self) -> Option<Arc<Published>> {
        self.published.borrow().clone()
    }

    /// The request queue. Send with `try_send` where a caller is waiting for an answer (a
    /// full queue is an answer: "retry"); `send().await` only blocks the front end itself.
    pub fn requests(&self) -> mpsc::Sender<Request> {
        self.requests.clone()
    }

    /// The stop signal: `Some(cause)` once the run is stopping.
    pub fn stop_signal(&self) -> watch::Receiver<Option<StopCause>> {
        self.stop.clone()
    }

    /// Resolves when the run is stopping (or the bus is gone).
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        while stop.borrow_and_update().is_none() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    }
}
