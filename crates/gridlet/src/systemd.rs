//! The service manager's notification protocol (sd_notify(3), `Type=notify`): READY=1 once the
//! site has run its first tick, WATCHDOG=1 from the tick loop itself, STATUS= with the mode and
//! the charger's state, STOPPING=1 when the safe-state shutdown begins.
//!
//! The watchdog is kept by the control loop, not by a timer task of its own: a loop that hangs
//! (a blocked device read, a deadlock on a device's lock) stops the pings even though the process,
//! its HTTP server and its other tasks are alive, and systemd restarts it (`WatchdogSec`,
//! `Restart=on-failure`). The actuators' own watchdogs (the converter zeroes a set-point older than
//! 5 s) hold the hardware safe meanwhile.
//!
//! Without `NOTIFY_SOCKET` (not started by systemd) every call is a no-op. The datagrams go out
//! through the `sd-notify` crate.

use std::time::{Duration, Instant};

use devices::{ChargePointState, ChargeProtocol};
use sd_notify::NotifyState;
use site::Snapshot;

/// The notifier of one run. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Notifier {
    /// `NOTIFY_SOCKET` is set.
    enabled: bool,
    /// Half of `WATCHDOG_USEC` (sd_watchdog_enabled(3) recommends pinging at half the timeout),
    /// if the watchdog is enabled for this process.
    watchdog_every: Option<Duration>,
    last_ping: Option<Instant>,
    status: String,
    /// A failed send is logged once, not at every tick.
    failed: bool,
}

impl Notifier {
    /// From the environment systemd sets: `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`.
    pub(crate) fn from_env() -> Self {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty());
        let watchdog_every = sd_notify::watchdog_enabled()
            .filter(|t| !t.is_zero())
            .map(|t| t / 2);
        Self {
            enabled,
            watchdog_every: watchdog_every.filter(|_| enabled),
            last_ping: None,
            status: String::new(),
            failed: false,
        }
    }

    /// The interval of the watchdog pings, if systemd asked for them.
    pub(crate) fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog_every
    }

    /// The site runs: READY=1 with the first status, and the first watchdog ping.
    pub(crate) fn ready(&mut self, snapshot: &Snapshot, now: Instant) {
        self.status = status_text(snapshot);
        let status = format!("STATUS={}", self.status);
        let mut states = vec![NotifyState::Ready, NotifyState::Custom(&status)];
        if self.watchdog_every.is_some() {
            states.push(NotifyState::Watchdog);
            self.last_ping = Some(now);
        }
        self.send(&states);
    }

    /// After every tick: STATUS= when the text changed, WATCHDOG=1 when half the watchdog
    /// timeout has passed since the last ping.
    pub(crate) fn tick(&mut self, snapshot: &Snapshot, now: Instant) {
        if !self.enabled {
            return;
        }
        let text = status_text(snapshot);
        let status = (text != self.status).then(|| format!("STATUS={text}"));
        self.status = text;
        let ping = self.watchdog_every.is_some_and(|every| {
            self.last_ping
                .is_none_or(|last| now.saturating_duration_since(last) >= every)
        });
        let mut states = Vec::with_capacity(2);
        if let Some(s) = &status {
            states.push(NotifyState::Custom(s));
        }
        if ping {
            states.push(NotifyState::Watchdog);
            self.last_ping = Some(now);
        }
        if !states.is_empty() {
            self.send(&states);
        }
    }

    /// The shutdown begins: STOPPING=1 and why.
    pub(crate) fn stopping(&mut self, why: &str) {
        let status = format!("STATUS=stopping ({why}): putting every actuator into its safe state");
        self.send(&[NotifyState::Stopping, NotifyState::Custom(&status)]);
    }

    /// The shutdown's result, the last status before the process exits.
    pub(crate) fn stopped(&mut self, safe: bool) {
        let status = if safe {
            "STATUS=stopped: safe state confirmed"
        } else {
            "STATUS=stopped: safe state NOT confirmed, the actuators' own watchdogs take over"
        };
        self.send(&[NotifyState::Custom(status)]);
    }

    fn send(&mut self, states: &[NotifyState<'_>]) {
        if !self.enabled {
            return;
        }
        match sd_notify::notify(states) {
            Ok(()) => self.failed = false,
            Err(e) if !self.failed => {
                self.failed = true;
                tracing::warn!("cannot notify the service manager (NOTIFY_SOCKET): {e}");
            }
            Err(_) => {}
        }
    }
}

impl runner::Supervisor for Notifier {
    fn watchdog_every(&self) -> Option<Duration> {
        Self::watchdog_every(self)
    }
    fn ready(&mut self, snapshot: &Snapshot, now: Instant) {
        Self::ready(self, snapshot, now);
    }
    fn tick(&mut self, snapshot: &Snapshot, now: Instant) {
        Self::tick(self, snapshot, now);
    }
    fn stopping(&mut self, why: &str) {
        Self::stopping(self, why);
    }
    fn stopped(&mut self, safe: bool) {
        Self::stopped(self, safe);
    }
}

/// The one-line status `systemctl status gridlet` shows: the mode, what the grid loop does, and
/// the charger's state. Only what changes with decisions, not every reading, so it is sent when
/// something happens rather than at every tick.
pub(crate) fn status_text(s: &Snapshot) -> String {
    use controller::Behaviour;
    let mode = serde_json::to_value(s.controller.mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{:?}", s.controller.mode));
    let behaviour = match s.controller.behaviour {
        Behaviour::Regulating => "regulating",
        Behaviour::RegulatingNoDischarge { .. } => "regulating without discharge",
        Behaviour::ChargingFromGrid { .. } => "charging from the grid",
        Behaviour::Stopped { .. } => "converter stopped",
    };
    let car = match &s.charge_point {
        None => "no charge point".to_owned(),
        Some(cp) => {
            let st = &cp.value;
            let what = match st.state {
                ChargePointState::Unplugged => "no car",
                ChargePointState::Connecting => "connecting",
                ChargePointState::Ready if st.power_w.0 > 0.0 => "charging",
                ChargePointState::Ready if st.power_w.0 < 0.0 => "discharging (V2H)",
                ChargePointState::Ready => "ready",
                ChargePointState::Stopping => "stopping",
                ChargePointState::Fault => "fault",
            };
            let protocol = match st.protocol {
                Some(ChargeProtocol::Din) => " (DIN 70121)",
                Some(ChargeProtocol::Iso2) => " (ISO 15118-2)",
                Some(ChargeProtocol::Iso20) => " (ISO 15118-20)",
                None => "",
            };
            let disabled = if s.controller.ev_enabled {
                ""
            } else {
                ", disabled"
            };
            format!("car: {what}{protocol}{disabled}")
        }
    };
    let warnings = match s.controller.warnings.len() {
        0 => String::new(),
        1 => "; 1 warning".to_owned(),
        n => format!("; {n} warnings"),
    };
    format!("mode {mode}, {behaviour}; {car}{warnings}")
}

/// True if stderr is connected to the journal: `JOURNAL_STREAM` (systemd.exec(5)) names the
/// device and inode of our stderr. A child of a service that redirected its stderr elsewhere
/// inherits the variable but not the stream, hence the comparison.
pub(crate) fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::MetadataExt as _;
    let Some(var) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = var.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(stderr).metadata() else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// Prefixes each log line with its syslog priority (`<3>` error ... `<7>` debug, sd-daemon(3)),
/// which journald strips and keeps as the entry's level: `journalctl -u gridlet -p warning`.
#[derive(Debug)]
pub(crate) struct JournalLevel<F>(pub(crate) F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for JournalLevel<F>
where
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            tracing::Level::DEBUG | tracing::Level::TRACE => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}
