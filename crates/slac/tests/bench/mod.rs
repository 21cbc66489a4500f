//! A test bench: cars and chargers on a simulated powerline, on virtual time.

#![allow(dead_code)]

use std::time::Duration;

use homeplug::{MacAddr, Repr};
use slac::sim::{HostId, Powerline, REAL_AAG};
use slac::{Ev, EvConfig, EvEvent, Evse, EvseConfig, EvseEvent};
use units::Timestamp;

pub(crate) const EVSE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
pub(crate) const EV_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
pub(crate) const T0: Timestamp = Timestamp::from_unix_secs(1_750_000_000);

pub(crate) struct Bench {
    pub(crate) now: Timestamp,
    pub(crate) line: Powerline,
    pub(crate) evses: Vec<(HostId, Evse)>,
    pub(crate) evs: Vec<(HostId, Ev)>,
    pub(crate) evse_events: Vec<(Timestamp, usize, EvseEvent)>,
    pub(crate) ev_events: Vec<(Timestamp, usize, EvEvent)>,
}

impl Bench {
    /// One charger (plugged, real attenuation profile) and one car (not started), 1 ms latency.
    pub(crate) fn pair() -> Self {
        let mut bench = Self::empty(Duration::from_millis(1));
        bench.add_evse(EVSE_MAC, &REAL_AAG);
        bench.add_ev(EvConfig::new(EV_MAC, [2; 32]));
        bench.evses[0].1.handle_car_plugged(T0);
        bench
    }

    pub(crate) fn empty(latency: Duration) -> Self {
        Self {
            now: T0,
            line: Powerline::new(latency),
            evses: Vec::new(),
            evs: Vec::new(),
            evse_events: Vec::new(),
            ev_events: Vec::new(),
        }
    }

    pub(crate) fn add_evse(&mut self, mac: MacAddr, profile: &[u8]) -> usize {
        let seed = [self.evses.len() as u8 + 100; 32];
        self.add_evse_with(EvseConfig::new(mac, seed), profile)
    }

    pub(crate) fn add_evse_with(&mut self, config: EvseConfig, profile: &[u8]) -> usize {
        let host = self.line.attach_evse(config.mac, profile);
        self.evses.push((host, Evse::new(config, self.now)));
        self.evses.len() - 1
    }

    pub(crate) fn add_ev(&mut self, config: EvConfig) -> usize {
        let host = self.line.attach_ev(config.mac);
        self.evs.push((host, Ev::new(config)));
        self.evs.len() - 1
    }

    pub(crate) fn ev(&mut self) -> &mut Ev {
        &mut self.evs[0].1
    }

    pub(crate) fn evse(&mut self) -> &mut Evse {
        &mut self.evses[0].1
    }

    /// Moves everything the machines want to send onto the line, and their events into the logs.
    fn flush(&mut self) {
        for (i, (host, evse)) in self.evses.iter_mut().enumerate() {
            while let Some(repr) = evse.poll_transmit() {
                self.line.send(self.now, *host, &repr.to_bytes());
            }
            while let Some(e) = evse.poll_event() {
                self.evse_events.push((self.now, i, e));
            }
        }
        for (i, (host, ev)) in self.evs.iter_mut().enumerate() {
            while let Some(repr) = ev.poll_transmit() {
                self.line.send(self.now, *host, &repr.to_bytes());
            }
            while let Some(e) = ev.poll_event() {
                self.ev_events.push((self.now, i, e));
            }
        }
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        self.evses
            .iter()
            .filter_map(|(_, e)| e.poll_timeout())
            .chain(self.evs.iter().filter_map(|(_, e)| e.poll_timeout()))
            .chain(self.line.next_arrival())
            .min()
    }

    /// Runs until `stop` holds or nothing happens before `now + limit`, then sets the clock to
    /// the stop time (or the limit).
    pub(crate) fn run_until(&mut self, limit: Duration, stop: impl Fn(&Self) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.flush();
            if stop(self) {
                return true;
            }
            match self.next_deadline() {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => {
                    self.now = end;
                    return false;
                }
            }
            while let Some((to, bytes)) = self.line.poll(self.now) {
                if let Some((_, evse)) = self.evses.iter_mut().find(|(h, _)| *h == to) {
                    evse.handle_frame(self.now, &bytes);
                }
                if let Some((_, ev)) = self.evs.iter_mut().find(|(h, _)| *h == to) {
                    ev.handle_frame(self.now, &bytes);
                }
            }
            for (_, evse) in &mut self.evses {
                if evse.poll_timeout().is_some_and(|t| t <= self.now) {
                    evse.handle_timeout(self.now);
                }
            }
            for (_, ev) in &mut self.evs {
                if ev.poll_timeout().is_some_and(|t| t <= self.now) {
                    ev.handle_timeout(self.now);
                }
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub(crate) fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Runs until the first car matched (or 30 s passed).
    pub(crate) fn run_until_ev_matched(&mut self) -> bool {
        self.run_until(Duration::from_secs(30), |b| {
            b.ev_events
                .iter()
                .any(|(_, _, e)| matches!(e, EvEvent::Matched(_)))
        })
    }

    pub(crate) fn ev_matches(&self) -> Vec<slac::EvMatch> {
        self.ev_events
            .iter()
            .filter_map(|(_, _, e)| match e {
                EvEvent::Matched(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn evse_matches(&self, i: usize) -> Vec<slac::EvseMatch> {
        self.evse_events
            .iter()
            .filter(|(_, j, _)| *j == i)
            .filter_map(|(_, _, e)| match e {
                EvseEvent::Matched(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn evse_failures(&self) -> Vec<slac::EvseFailure> {
        self.evse_events
            .iter()
            .filter_map(|(_, _, e)| match e {
                EvseEvent::AttemptFailed { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    /// Frames of one MMTYPE on the line, with send time and whether they were lost.
    pub(crate) fn sent(&self, mmtype: homeplug::MmType) -> Vec<(Timestamp, Repr, bool)> {
        self.line
            .log()
            .iter()
            .filter(|s| s.repr.message.mmtype() == mmtype)
            .map(|s| (s.at, s.repr.clone(), s.lost))
            .collect()
    }
}

/// Clears a charger's start-up traffic (its CM_SET_KEY exchange) so tests can look at SLAC alone.
pub(crate) fn settle(bench: &mut Bench) {
    bench.run_for(Duration::from_millis(10));
    assert!(
        bench
            .evse_events
            .iter()
            .all(|(_, _, e)| matches!(e, EvseEvent::KeySet { .. })),
        "{:?}",
        bench.evse_events
    );
}
