//! A simulated powerline segment with its stations' local modems, on virtual time: what
//! `plc-emu.py` does over veth pairs, in process and deterministic. Tests and the EV simulator
//! run [`Ev`](crate::Ev) and [`Evse`](crate::Evse) over it.
//!
//! Each attached host has a local QCA-like modem that answers CM_SET_KEY.REQ (Result 1, as real
//! QCA7000s do), VS_SW_VER.REQ, VS_RS_DEV.REQ and VS_PL_LINK_STATUS.REQ itself (the link is up
//! while another modem on the line has the same NMK), and, for charger hosts, reports a
//! CM_ATTEN_PROFILE.IND for every CM_MNBC_SOUND.IND it hears. Every other frame is carried to the hosts it is
//! addressed to, after a fixed latency, unless a loss rule drops it.

use std::fmt;
use std::time::Duration;

use homeplug::{
    MacAddr, Message, Nmk, Repr, cm_atten_profile, cm_set_key, vs_pl_link_status, vs_rs_dev,
    vs_sw_ver,
};
use units::Timestamp;

/// 58 attenuation values in dB measured by a real QCA7000 in a charger (pyPLC capture of a
/// FoccciCape with a Hyundai Ioniq, vector S020), mean 22.6 dB.
pub const REAL_AAG: [u8; 58] = [
    0x17, 0x17, 0x12, 0x23, 0x1f, 0x1c, 0x19, 0x15, 0x12, 0x11, 0x14, 0x12, 0x14, 0x15, 0x14, 0x1a,
    0x18, 0x1d, 0x18, 0x1e, 0x16, 0x17, 0x15, 0x15, 0x15, 0x0e, 0x0d, 0x0f, 0x0f, 0x10, 0x10, 0x12,
    0x12, 0x16, 0x13, 0x16, 0x15, 0x15, 0x1b, 0x18, 0x14, 0x15, 0x13, 0x17, 0x17, 0x16, 0x1c, 0x19,
    0x14, 0x16, 0x18, 0x1d, 0x1c, 0x17, 0x21, 0x1b, 0x1d, 0x22,
];

/// The firmware string the simulated modems report in VS_SW_VER.CNF.
pub const SIM_FIRMWARE: &str = "PLC-SIM-1.0";

/// A station on the simulated powerline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(usize);

#[derive(Debug)]
struct Host {
    mac: MacAddr,
    modem_mac: MacAddr,
    /// Attenuation the host's modem reports for sounds it hears; `None`: it reports none.
    profile: Option<Vec<u8>>,
    modem_answers: bool,
    /// The network key programmed into the modem, if any.
    nmk: Option<Nmk>,
}

#[derive(Debug)]
struct InFlight {
    at: Timestamp,
    seq: u64,
    to: HostId,
    bytes: Vec<u8>,
}

/// Decides whether a frame is lost: `(sender, frame) -> drop?`.
pub type LossRule = Box<dyn FnMut(HostId, &Repr) -> bool + Send>;

/// A frame as it went over the simulated medium, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// When it was sent.
    pub at: Timestamp,
    /// Who sent it (a modem's own frames count as its host's).
    pub from: HostId,
    /// The frame.
    pub repr: Repr,
    /// Dropped by a loss rule.
    pub lost: bool,
}

/// The simulated powerline. See the [module docs](self).
pub struct Powerline {
    hosts: Vec<Host>,
    in_flight: Vec<InFlight>,
    seq: u64,
    latency: Duration,
    loss: Option<LossRule>,
    log: Vec<Sent>,
}

impl fmt::Debug for Powerline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Powerline")
            .field("hosts", &self.hosts)
            .field("in_flight", &self.in_flight.len())
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl Powerline {
    /// An empty segment where every frame takes `latency` to arrive.
    pub fn new(latency: Duration) -> Self {
        Self {
            hosts: Vec::new(),
            in_flight: Vec::new(),
            seq: 0,
            latency,
            loss: None,
            log: Vec::new(),
        }
    }

    /// Attaches a charger host whose modem reports `profile` for every sound it hears.
    pub fn attach_evse(&mut self, mac: MacAddr, profile: &[u8]) -> HostId {
        self.attach(mac, Some(profile.to_vec()))
    }

    /// Attaches a car host (its modem reports no attenuation profiles).
    pub fn attach_ev(&mut self, mac: MacAddr) -> HostId {
        self.attach(mac, None)
    }

    fn attach(&mut self, mac: MacAddr, profile: Option<Vec<u8>>) -> HostId {
        let n = self.hosts.len();
        // Locally administered, unique per host: 02:65:65:00:00:NN.
        let modem_mac = MacAddr([0x02, 0x65, 0x65, 0x00, 0x00, n as u8]);
        self.hosts.push(Host {
            mac,
            modem_mac,
            profile,
            modem_answers: true,
            nmk: None,
        });
        HostId(n)
    }

    /// Whether a host's modem answers its host's management messages (a silent one simulates a
    /// missing or unpowered modem).
    pub fn set_modem_answers(&mut self, host: HostId, answers: bool) {
        if let Some(h) = self.hosts.get_mut(host.0) {
            h.modem_answers = answers;
        }
    }

    /// Installs a loss rule, replacing any previous one.
    pub fn set_loss(&mut self, rule: impl FnMut(HostId, &Repr) -> bool + Send + 'static) {
        self.loss = Some(Box::new(rule));
    }

    /// The network key a host's modem holds, if one was programmed.
    pub fn modem_key(&self, host: HostId) -> Option<Nmk> {
        self.hosts.get(host.0).and_then(|h| h.nmk)
    }

    /// Every frame sent so far.
    pub fn log(&self) -> &[Sent] {
        &self.log
    }

    /// A host sends a frame at `now`.
    pub fn send(&mut self, now: Timestamp, from: HostId, bytes: &[u8]) {
        let Some(sender) = self.hosts.get(from.0) else {
            return;
        };
        let Ok(repr) = Repr::parse_bytes(bytes) else {
            return;
        };
        let lost = self.loss.as_mut().is_some_and(|rule| rule(from, &repr));
        self.log.push(Sent {
            at: now,
            from,
            repr: repr.clone(),
            lost,
        });
        if lost {
            return;
        }
        // Management messages for the local modem never reach the powerline.
        let for_modem = repr.dst == MacAddr::QCA_LOCAL
            || repr.dst == sender.modem_mac
            || (repr.dst.is_broadcast()
                && matches!(repr.message, Message::SetKeyReq(_) | Message::SwVerReq(_)));
        if for_modem {
            if sender.modem_answers {
                match &repr.message {
                    Message::SetKeyReq(req) => self.hosts[from.0].nmk = Some(req.new_key),
                    Message::RsDevReq(_) => self.hosts[from.0].nmk = None,
                    _ => {}
                }
            }
            if let Some(reply) = self.modem_reply(from, &repr) {
                self.queue(now, from, reply);
            }
            return;
        }
        let receivers: Vec<HostId> = (0..self.hosts.len())
            .map(HostId)
            .filter(|&h| h != from)
            .filter(|h| repr.dst.is_multicast() || self.hosts[h.0].mac == repr.dst)
            .collect();
        for to in receivers {
            self.queue(now, to, bytes.to_vec());
            if let (Message::MnbcSoundInd(_), Some(profile)) =
                (&repr.message, self.hosts[to.0].profile.clone())
            {
                // The receiving modem measured the sound and tells its own host.
                let ind = Repr::new(
                    MacAddr::BROADCAST,
                    self.hosts[to.0].modem_mac,
                    Message::AttenProfileInd(cm_atten_profile::IndRepr {
                        pev_mac: repr.src,
                        aag: profile,
                    }),
                );
                self.queue(now, to, ind.to_bytes());
            }
        }
    }

    fn modem_reply(&self, host: HostId, repr: &Repr) -> Option<Vec<u8>> {
        let h = self.hosts.get(host.0)?;
        if !h.modem_answers {
            return None;
        }
        let message = match &repr.message {
            Message::SetKeyReq(req) => Message::SetKeyCnf(cm_set_key::CnfRepr {
                result: 1,
                my_nonce: req.my_nonce,
                your_nonce: req.my_nonce,
                pid: req.pid,
                prn: req.prn,
                pmn: req.pmn,
                cco_capability: req.cco_capability,
            }),
            Message::SwVerReq(_) => Message::SwVerCnf(vs_sw_ver::CnfRepr {
                status: 0,
                device_id: 0x20,
                version: SIM_FIRMWARE.as_bytes().to_vec(),
            }),
            Message::RsDevReq(_) => Message::RsDevCnf(vs_rs_dev::CnfRepr { status: 0 }),
            Message::LinkStatusReq(_) => {
                let linked = h.nmk.is_some_and(|nmk| {
                    self.hosts
                        .iter()
                        .enumerate()
                        .any(|(i, other)| i != host.0 && other.nmk == Some(nmk))
                });
                Message::LinkStatusCnf(vs_pl_link_status::CnfRepr {
                    status: 0,
                    link_status: u8::from(linked),
                })
            }
            _ => return None,
        };
        Some(Repr::new(repr.src, h.modem_mac, message).to_bytes())
    }

    fn queue(&mut self, now: Timestamp, to: HostId, bytes: Vec<u8>) {
        self.seq += 1;
        self.in_flight.push(InFlight {
            at: now + self.latency,
            seq: self.seq,
            to,
            bytes,
        });
    }

    /// When the next frame arrives.
    pub fn next_arrival(&self) -> Option<Timestamp> {
        self.in_flight.iter().map(|f| f.at).min()
    }

    /// The next frame that has arrived by `now`, in the order sent.
    pub fn poll(&mut self, now: Timestamp) -> Option<(HostId, Vec<u8>)> {
        let i = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, f)| f.at <= now)
            .min_by_key(|(_, f)| (f.at, f.seq))
            .map(|(i, _)| i)?;
        let f = self.in_flight.remove(i);
        Some((f.to, f.bytes))
    }
}
