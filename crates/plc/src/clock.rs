use units::{Clock, Timestamp};

/// A [`Clock`] on tokio's time: the same as the system's in production, and virtual when a test
/// pauses tokio's time (`#[tokio::test(start_paused = true)]`), so the driver and its sleeps stay
/// in step.
#[derive(Debug, Clone)]
pub struct TokioClock {
    anchor_wall: Timestamp,
    anchor: tokio::time::Instant,
}

impl TokioClock {
    /// Anchored to `wall` now.
    pub fn new(wall: Timestamp) -> Self {
        Self {
            anchor_wall: wall,
            anchor: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.anchor_wall + self.anchor.elapsed()
    }
}
