use std::io;
use std::ops::ControlFlow;

use homeplug::Repr;
use slac::{Ev, EvEvent, Evse, EvseEvent};
use tokio::sync::mpsc;
use tracing::trace;
use units::{Clock, Timestamp};

use crate::Link;

/// A sans-IO protocol machine the driver can run: the SLAC [`Evse`] and [`Ev`], and the
/// module manager [`flasher::Flasher`].
pub trait Machine {
    /// What it reports.
    type Event;
    /// A frame arrived.
    fn handle_frame(&mut self, now: Timestamp, frame: &[u8]);
    /// Its deadline passed.
    fn handle_timeout(&mut self, now: Timestamp);
    /// The next frame to send.
    fn poll_transmit(&mut self) -> Option<Repr>;
    /// Its next deadline.
    fn poll_timeout(&self) -> Option<Timestamp>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
}

macro_rules! machine {
    ($ty:ty, $event:ty) => {
        impl Machine for $ty {
            type Event = $event;
            fn handle_frame(&mut self, now: Timestamp, frame: &[u8]) {
                <$ty>::handle_frame(self, now, frame)
            }
            fn handle_timeout(&mut self, now: Timestamp) {
                <$ty>::handle_timeout(self, now)
            }
            fn poll_transmit(&mut self) -> Option<Repr> {
                <$ty>::poll_transmit(self)
            }
            fn poll_timeout(&self) -> Option<Timestamp> {
                <$ty>::poll_timeout(self)
            }
            fn poll_event(&mut self) -> Option<Self::Event> {
                <$ty>::poll_event(self)
            }
        }
    };
}

machine!(Evse, EvseEvent);
machine!(Ev, EvEvent);
machine!(flasher::Flasher, flasher::Event);

/// Runs `machine` over `link`: frames in, timeouts on time, frames out as soon as the machine
/// has them (a response goes out before the next frame is read). Every event goes to
/// `on_event`, which may poke the machine (e.g. re-arm a timer) and returns
/// [`ControlFlow::Break`] to stop; pending frames are sent before returning.
///
/// Fails only if the link does; malformed or unexpected frames are the machine's business.
pub async fn drive<M, L, C>(
    link: &L,
    clock: &C,
    machine: &mut M,
    on_event: impl FnMut(&mut M, M::Event) -> ControlFlow<()>,
) -> io::Result<()>
where
    M: Machine,
    L: Link,
    C: Clock + ?Sized,
{
    // Nothing ever comes in besides frames: the sender lives as long as the drive.
    let (_none, mut inputs) = mpsc::unbounded_channel::<std::convert::Infallible>();
    drive_with_inputs(
        link,
        clock,
        machine,
        &mut inputs,
        |_, _, never| match never {},
        on_event,
    )
    .await
}

/// [`drive`], with a second source of input besides the link: whatever arrives on `inputs`
/// (control-pilot changes, what the V2G stage saw) goes to `on_input` with the time it was
/// taken, between frames, and the machine's frames and events are handled at once after it.
/// When every sender of `inputs` is gone, the drive goes on with frames and timeouts alone.
pub async fn drive_with_inputs<M, L, C, I>(
    link: &L,
    clock: &C,
    machine: &mut M,
    inputs: &mut mpsc::UnboundedReceiver<I>,
    mut on_input: impl FnMut(&mut M, Timestamp, I),
    mut on_event: impl FnMut(&mut M, M::Event) -> ControlFlow<()>,
) -> io::Result<()>
where
    M: Machine,
    L: Link,
    C: Clock + ?Sized,
{
    // The largest Ethernet frame with a VLAN tag; MMEs are far shorter.
    let mut buf = [0u8; 1522];
    let mut inputs_open = true;
    loop {
        let mut stop = false;
        loop {
            while let Some(repr) = machine.poll_transmit() {
                trace!("--> {} to {}", repr.message.mmtype(), repr.dst);
                link.send(&repr.to_bytes()).await?;
            }
            match machine.poll_event() {
                Some(event) => stop |= on_event(machine, event).is_break(),
                None => break,
            }
        }
        if stop {
            while let Some(repr) = machine.poll_transmit() {
                link.send(&repr.to_bytes()).await?;
            }
            return Ok(());
        }
        let deadline = machine.poll_timeout();
        // Due deadlines first: under a flood of frames the biased select below would never
        // get to the timer.
        if deadline.is_some_and(|d| d <= clock.now()) {
            machine.handle_timeout(clock.now());
            continue;
        }
        let wait = deadline.map(|d| d.saturating_duration_since(clock.now()));
        tokio::select! {
            biased;
            received = link.recv(&mut buf) => {
                let n = received?;
                machine.handle_frame(clock.now(), &buf[..n]);
            }
            input = inputs.recv(), if inputs_open => match input {
                Some(input) => on_input(machine, clock.now(), input),
                None => inputs_open = false,
            },
            () = sleep(wait) => {
                machine.handle_timeout(clock.now());
            }
        }
    }
}

async fn sleep(wait: Option<std::time::Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
