//! A PWM channel through the kernel's sysfs interface (`/sys/class/pwm`, see the kernel's
//! `Documentation/driver-api/pwm.rst`, "Using PWMs with the sysfs interface").
//!
//! Written here rather than taken from a crate: the one crate (`sysfs-pwm`) hard-codes
//! `/sys/class/pwm`, and a configurable root is what lets the tests run against a fake tree.
//!
//! The kernel checks every write against the channel's whole state and refuses (EINVAL) a period
//! of zero or a duty cycle longer than the period (`pwm_apply_state`), so the order of the
//! writes depends on where the channel comes from: [`plan`] works it out, sans-IO.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use devices::DeviceError;
use serde::Deserialize;
use units::duration_str;

use crate::error::{OpenError, link};
use crate::sysfs;

/// `[... pwm]`: one PWM channel. The defaults are the FoccciCape's control pilot output, P9_42
/// (eCAP0: `pwmchip0`, channel 0) at 1 kHz (`uhi22/DiDeBoCCS:source/cppwm.py`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SysfsPwmParams {
    /// Where the PWM chips are.
    pub root: PathBuf,
    /// The chip's directory under `root`.
    pub chip: String,
    /// The channel on the chip.
    pub channel: u32,
    /// The channel's directory, if the kernel does not call it `<chip>/pwm<channel>` or
    /// `pwm-<N>:<channel>` (BeagleBoard kernels, e.g. `/sys/class/pwm/pwm-0:0`): relative to
    /// `root`, or absolute.
    pub channel_dir: Option<PathBuf>,
    /// The period in nanoseconds.
    pub period_ns: u64,
    /// How long to wait for the channel's files after exporting it (udev may still be setting
    /// them up).
    #[serde(with = "duration_str")]
    pub export_timeout: Duration,
}

impl Default for SysfsPwmParams {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/sys/class/pwm"),
            chip: "pwmchip0".into(),
            channel: 0,
            channel_dir: None,
            period_ns: 1_000_000,
            export_timeout: Duration::from_secs(2),
        }
    }
}

/// The attributes a usable channel has (`polarity` is optional: not every driver can invert).
const CHANNEL_FILES: [&str; 3] = ["period", "duty_cycle", "enable"];

impl SysfsPwmParams {
    fn validate(&self) -> Result<(), String> {
        if self.chip.is_empty() || self.chip.contains('/') || self.chip == "." || self.chip == ".."
        {
            return Err(format!(
                "chip {:?} is not a directory name such as \"pwmchip0\"",
                self.chip
            ));
        }
        // The kernel takes periods in ns as an unsigned 64-bit value; beyond one second no PWM
        // this daemon drives makes sense, and a zero period is refused by the kernel.
        if self.period_ns == 0 || self.period_ns > 1_000_000_000 {
            return Err(format!(
                "period_ns {} is outside 1..=1000000000",
                self.period_ns
            ));
        }
        if self.export_timeout > Duration::from_secs(60) {
            return Err("export_timeout is longer than 60s".into());
        }
        Ok(())
    }

    fn chip_dir(&self) -> PathBuf {
        self.root.join(&self.chip)
    }

    /// Where the channel's directory may be, in the order tried.
    fn candidates(&self) -> Vec<PathBuf> {
        if let Some(dir) = &self.channel_dir {
            return vec![self.root.join(dir)];
        }
        let mut dirs = vec![self.chip_dir().join(format!("pwm{}", self.channel))];
        // BeagleBoard kernels name channels `pwm-<chip number>:<channel>`, inside the chip and
        // as their own class devices directly under the root.
        if let Some(n) = self
            .chip
            .strip_prefix("pwmchip")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            let alias = format!("pwm-{n}:{}", self.channel);
            dirs.push(self.chip_dir().join(&alias));
            dirs.push(self.root.join(alias));
        }
        dirs
    }
}

fn usable(dir: &Path) -> bool {
    CHANNEL_FILES.iter().all(|f| dir.join(f).is_file())
}

/// What a channel's attributes hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PwmState {
    /// `period`, ns.
    pub period_ns: u64,
    /// `duty_cycle`, ns.
    pub duty_ns: u64,
    /// `enable`.
    pub enabled: bool,
}

/// One attribute write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PwmWrite {
    /// `period`.
    Period(u64),
    /// `duty_cycle`.
    DutyCycle(u64),
    /// `enable`.
    Enable(bool),
}

impl PwmWrite {
    fn attr(self) -> (&'static str, String) {
        match self {
            Self::Period(ns) => ("period", ns.to_string()),
            Self::DutyCycle(ns) => ("duty_cycle", ns.to_string()),
            Self::Enable(on) => ("enable", if on { "1" } else { "0" }.into()),
        }
    }
}

/// The writes that take a channel from `current` to `target`, in an order the kernel accepts at
/// every step (`target` must itself be valid: `duty_ns <= period_ns`, `period_ns > 0`).
///
/// - A longer period goes first, so that the new duty cycle fits; a shorter one goes after the
///   duty cycle has shrunk below it. Precisely: the period can go first if the current duty cycle
///   fits in the new period; otherwise the new duty cycle fits in the current period (it is
///   shorter than the new period, which is shorter than the current duty cycle).
/// - A channel is disabled before and enabled after the rest, so it never runs a half-written
///   configuration (and a freshly exported one, with period 0, is never enabled).
/// - Nothing is written that already holds its value.
pub fn plan(current: PwmState, target: PwmState) -> Vec<PwmWrite> {
    let mut writes = Vec::with_capacity(4);
    if current.enabled && !target.enabled {
        writes.push(PwmWrite::Enable(false));
    }
    let period =
        (current.period_ns != target.period_ns).then_some(PwmWrite::Period(target.period_ns));
    let duty = (current.duty_ns != target.duty_ns).then_some(PwmWrite::DutyCycle(target.duty_ns));
    if current.duty_ns <= target.period_ns {
        writes.extend(period);
        writes.extend(duty);
    } else {
        writes.extend(duty);
        writes.extend(period);
    }
    if !current.enabled && target.enabled {
        writes.push(PwmWrite::Enable(true));
    }
    writes
}

/// One exported PWM channel.
#[derive(Debug)]
pub struct SysfsPwm {
    name: String,
    dir: PathBuf,
    period_ns: u64,
}

impl SysfsPwm {
    /// Finds the channel, exporting it if needed, and sets its polarity to normal. The output
    /// is left as it was until the first [`set_duty_ns`](Self::set_duty_ns).
    pub fn open(name: &str, params: &SysfsPwmParams) -> Result<Self, OpenError> {
        params
            .validate()
            .map_err(|e| OpenError::config(name, format!("pwm: {e}")))?;
        let candidates = params.candidates();
        let dir = match candidates.iter().find(|d| usable(d)) {
            Some(dir) => dir.clone(),
            None => export(name, params, &candidates)?,
        };
        let pwm = Self {
            name: name.to_owned(),
            dir,
            period_ns: params.period_ns,
        };
        pwm.normal_polarity()?;
        Ok(pwm)
    }

    /// The channel's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configured period, ns.
    pub fn period_ns(&self) -> u64 {
        self.period_ns
    }

    fn path(&self, attr: &str) -> PathBuf {
        self.dir.join(attr)
    }

    /// The polarity must be normal for "duty" to mean "high" (`duty_permille` 1000 = +12 V on
    /// the FoccciCape). The kernel refuses a polarity change while the channel runs, so it is
    /// stopped first; a driver that cannot invert has no `polarity` and is normal.
    fn normal_polarity(&self) -> Result<(), DeviceError> {
        let path = self.path("polarity");
        if !path.exists() {
            return Ok(());
        }
        let polarity = sysfs::read(&path).map_err(|e| e.device(&self.name))?;
        if polarity == "normal" {
            return Ok(());
        }
        self.write(PwmWrite::Enable(false))?;
        sysfs::write(&path, "normal").map_err(|e| e.device(&self.name))
    }

    fn write(&self, w: PwmWrite) -> Result<(), DeviceError> {
        let (attr, value) = w.attr();
        sysfs::write(&self.path(attr), &value).map_err(|e| e.device(&self.name))
    }

    /// What the channel's attributes hold now.
    pub fn state(&self) -> Result<PwmState, DeviceError> {
        let read = |attr: &str, what| {
            sysfs::read_parse::<u64>(&self.path(attr), what).map_err(|e| e.device(&self.name))
        };
        let enabled = read("enable", "0 or 1")?;
        if enabled > 1 {
            return Err(DeviceError::InvalidData {
                device: self.name.clone(),
                reason: format!("{}: {enabled} is not 0 or 1", self.path("enable").display()),
            });
        }
        Ok(PwmState {
            period_ns: read("period", "a period in ns")?,
            duty_ns: read("duty_cycle", "a duty cycle in ns")?,
            enabled: enabled == 1,
        })
    }

    /// Runs the channel at the configured period with a duty cycle of `duty_ns` (clamped to the
    /// period). The writes are ordered by [`plan`] from what the channel holds now, so a
    /// channel changed behind our back is still reconfigured in a valid order.
    pub fn set_duty_ns(&mut self, duty_ns: u64) -> Result<(), DeviceError> {
        let target = PwmState {
            period_ns: self.period_ns,
            duty_ns: duty_ns.min(self.period_ns),
            enabled: true,
        };
        let current = self.state()?;
        for w in plan(current, target) {
            self.write(w)?;
        }
        Ok(())
    }

    /// Runs the channel with a duty cycle of `permille` ‰ of the period (1000 = always high,
    /// 0 = always low).
    pub fn set_duty_permille(&mut self, permille: u16) -> Result<(), DeviceError> {
        let permille = u64::from(permille.min(1000));
        // period_ns <= 1e9 (validated), so the product cannot overflow.
        self.set_duty_ns(self.period_ns * permille / 1000)
    }
}

/// Exports the channel and waits, at most `export_timeout`, for its files.
fn export(
    name: &str,
    params: &SysfsPwmParams,
    candidates: &[PathBuf],
) -> Result<PathBuf, OpenError> {
    let chip_dir = params.chip_dir();
    if !chip_dir.is_dir() {
        return Err(link(
            name,
            format!(
                "no PWM chip at {} (is the pin muxed to its PWM function, e.g. \
                 `config-pin P9_42 pwm`, and its PWM driver loaded?)",
                chip_dir.display()
            ),
        )
        .into());
    }
    let npwm = chip_dir.join("npwm");
    if npwm.exists() {
        let n: u32 = sysfs::read_parse(&npwm, "a channel count").map_err(|e| e.device(name))?;
        if params.channel >= n {
            return Err(link(
                name,
                format!(
                    "{} has {n} channel(s): channel {} does not exist",
                    chip_dir.display(),
                    params.channel
                ),
            )
            .into());
        }
    }
    match sysfs::write(&chip_dir.join("export"), &params.channel.to_string()) {
        Ok(()) => {}
        // Already exported (by another program, or a previous run that died): use it, once
        // its directory is found.
        Err(sysfs::AttrError::Io { source, .. })
            if source.raw_os_error() == Some(16 /* EBUSY */) => {}
        Err(e) => return Err(e.device(name).into()),
    }
    let deadline = Instant::now() + params.export_timeout;
    loop {
        if let Some(dir) = candidates.iter().find(|d| usable(d)) {
            return Ok(dir.clone());
        }
        if Instant::now() >= deadline {
            let tried: Vec<_> = candidates.iter().map(|d| d.display().to_string()).collect();
            return Err(link(
                name,
                format!(
                    "exported channel {} of {}, but no channel directory with {} appeared \
                     within {} (tried {}; set `channel_dir` if the kernel names it otherwise)",
                    params.channel,
                    chip_dir.display(),
                    CHANNEL_FILES.join(", "),
                    units::format_duration(params.export_timeout),
                    tried.join(", ")
                ),
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::fs;
    use std::thread::JoinHandle;

    use super::*;

    /// A fake `/sys/class/pwm` in a temporary directory.
    pub(crate) struct PwmTree {
        pub(crate) dir: tempfile::TempDir,
    }

    impl PwmTree {
        /// A root with `pwmchip0` (`npwm` channels), nothing exported.
        pub(crate) fn new(npwm: u32) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let chip = dir.path().join("pwmchip0");
            fs::create_dir(&chip).unwrap();
            for f in ["export", "unexport"] {
                fs::write(chip.join(f), "").unwrap();
            }
            fs::write(chip.join("npwm"), format!("{npwm}\n")).unwrap();
            Self { dir }
        }

        pub(crate) fn root(&self) -> PathBuf {
            self.dir.path().to_owned()
        }

        pub(crate) fn params(&self) -> SysfsPwmParams {
            SysfsPwmParams {
                root: self.root(),
                ..Default::default()
            }
        }

        /// A channel directory as the kernel creates it: disabled, period 0.
        pub(crate) fn add_channel(&self, rel: &str) {
            add_channel(&self.dir.path().join(rel));
        }

        pub(crate) fn read(&self, rel: &str) -> String {
            fs::read_to_string(self.dir.path().join(rel))
                .unwrap()
                .trim()
                .to_owned()
        }

        pub(crate) fn write(&self, rel: &str, value: &str) {
            fs::write(self.dir.path().join(rel), value).unwrap();
        }

        /// Plays the kernel: once a channel number is written to `pwmchip0/export`, its
        /// directory appears after `delay`, files a moment after the directory.
        pub(crate) fn kernel_exports(&self, delay: Duration) -> JoinHandle<bool> {
            let chip = self.dir.path().join("pwmchip0");
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    let written = fs::read_to_string(chip.join("export")).unwrap_or_default();
                    if let Ok(n) = written.trim().parse::<u32>() {
                        std::thread::sleep(delay);
                        let dir = chip.join(format!("pwm{n}"));
                        fs::create_dir(&dir).unwrap();
                        std::thread::sleep(Duration::from_millis(5));
                        add_channel(&dir);
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                false
            })
        }
    }

    fn add_channel(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        for (f, v) in [
            ("period", "0"),
            ("duty_cycle", "0"),
            ("enable", "0"),
            ("polarity", "normal"),
        ] {
            fs::write(dir.join(f), format!("{v}\n")).unwrap();
        }
    }

    #[test]
    fn exports_the_channel_and_waits_for_its_files() {
        let tree = PwmTree::new(2);
        let kernel = tree.kernel_exports(Duration::from_millis(50));
        let mut pwm = SysfsPwm::open("cp", &tree.params()).unwrap();
        assert!(kernel.join().unwrap(), "the channel was exported");
        assert_eq!(tree.read("pwmchip0/export"), "0");
        assert_eq!(pwm.dir(), tree.root().join("pwmchip0/pwm0"));
        assert_eq!(
            tree.read("pwmchip0/pwm0/enable"),
            "0",
            "opening drives nothing"
        );
        pwm.set_duty_permille(50).unwrap();
        assert_eq!(tree.read("pwmchip0/pwm0/period"), "1000000");
        assert_eq!(tree.read("pwmchip0/pwm0/duty_cycle"), "50000");
        assert_eq!(tree.read("pwmchip0/pwm0/enable"), "1");
        assert_eq!(tree.read("pwmchip0/pwm0/polarity"), "normal");
    }

    #[test]
    fn an_exported_channel_is_used_as_it_is() {
        let tree = PwmTree::new(1);
        tree.add_channel("pwmchip0/pwm0");
        SysfsPwm::open("cp", &tree.params()).unwrap();
        assert_eq!(tree.read("pwmchip0/export"), "", "not exported again");

        // BeagleBoard kernels: `/sys/class/pwm/pwm-0:0`, found by itself or configured.
        let tree = PwmTree::new(1);
        tree.add_channel("pwm-0:0");
        let pwm = SysfsPwm::open("cp", &tree.params()).unwrap();
        assert_eq!(pwm.dir(), tree.root().join("pwm-0:0"));
        let tree = PwmTree::new(1);
        tree.add_channel("ecap0");
        let params = SysfsPwmParams {
            channel_dir: Some("ecap0".into()),
            ..tree.params()
        };
        let pwm = SysfsPwm::open("cp", &params).unwrap();
        assert_eq!(pwm.dir(), tree.root().join("ecap0"));
        assert_eq!(tree.read("pwmchip0/export"), "");
    }

    #[test]
    fn a_missing_chip_is_a_clear_link_error() {
        let tree = PwmTree::new(1);
        let params = SysfsPwmParams {
            chip: "pwmchip4".into(),
            ..tree.params()
        };
        let err = SysfsPwm::open("cp", &params).unwrap_err();
        let OpenError::Device(DeviceError::Link { device, reason }) = &err else {
            panic!("{err}");
        };
        assert_eq!(device, "cp");
        assert!(
            reason.contains("no PWM chip at") && reason.contains("pwmchip4"),
            "{reason}"
        );
        assert!(
            reason.contains("config-pin"),
            "says how to fix it: {reason}"
        );
    }

    #[test]
    fn a_channel_that_does_not_appear_or_exist_is_a_link_error() {
        let tree = PwmTree::new(1);
        let params = SysfsPwmParams {
            export_timeout: Duration::from_millis(50),
            ..tree.params()
        };
        let err = SysfsPwm::open("cp", &params).unwrap_err().to_string();
        assert!(
            err.contains("cp: link unusable: exported channel 0"),
            "{err}"
        );
        assert!(
            err.contains("pwm-0:0") && err.contains("channel_dir"),
            "{err}"
        );
        assert_eq!(tree.read("pwmchip0/export"), "0");

        let params = SysfsPwmParams {
            channel: 1,
            ..tree.params()
        };
        let err = SysfsPwm::open("cp", &params).unwrap_err().to_string();
        assert!(
            err.contains("has 1 channel(s): channel 1 does not exist"),
            "{err}"
        );
    }

    #[test]
    fn writes_the_values_of_each_duty() {
        let tree = PwmTree::new(1);
        tree.add_channel("pwmchip0/pwm0");
        let mut pwm = SysfsPwm::open("cp", &tree.params()).unwrap();
        for (permille, duty) in [
            (1000, "1000000"),
            (50, "50000"),
            (0, "0"),
            (2000, "1000000"),
        ] {
            pwm.set_duty_permille(permille).unwrap();
            assert_eq!(tree.read("pwmchip0/pwm0/duty_cycle"), duty, "{permille} ‰");
            assert_eq!(tree.read("pwmchip0/pwm0/period"), "1000000");
            assert_eq!(
                tree.read("pwmchip0/pwm0/enable"),
                "1",
                "0 ‰ is driven low, not off"
            );
        }
        // Left by another program at 2 ms with 1.5 ms high: reconfigured all the same.
        tree.write("pwmchip0/pwm0/period", "2000000");
        tree.write("pwmchip0/pwm0/duty_cycle", "1500000");
        pwm.set_duty_permille(50).unwrap();
        assert_eq!(tree.read("pwmchip0/pwm0/period"), "1000000");
        assert_eq!(tree.read("pwmchip0/pwm0/duty_cycle"), "50000");
    }

    #[test]
    fn an_inverted_channel_is_stopped_and_set_to_normal() {
        let tree = PwmTree::new(1);
        tree.add_channel("pwmchip0/pwm0");
        tree.write("pwmchip0/pwm0/polarity", "inversed\n");
        tree.write("pwmchip0/pwm0/enable", "1\n");
        SysfsPwm::open("cp", &tree.params()).unwrap();
        assert_eq!(tree.read("pwmchip0/pwm0/polarity"), "normal");
        assert_eq!(tree.read("pwmchip0/pwm0/enable"), "0");
    }

    #[test]
    fn unreadable_attributes_are_errors_naming_the_file() {
        let tree = PwmTree::new(1);
        tree.add_channel("pwmchip0/pwm0");
        let mut pwm = SysfsPwm::open("cp", &tree.params()).unwrap();
        tree.write("pwmchip0/pwm0/duty_cycle", "fifty");
        let err = pwm.set_duty_permille(50).unwrap_err();
        assert!(
            matches!(&err, DeviceError::InvalidData { device, reason } if device == "cp" && reason.contains("pwm0/duty_cycle") && reason.contains("\"fifty\"")),
            "{err}"
        );
        tree.write("pwmchip0/pwm0/duty_cycle", "0");
        tree.write("pwmchip0/pwm0/enable", "2");
        assert!(pwm.set_duty_permille(50).is_err());
        tree.write("pwmchip0/pwm0/enable", "0");
        fs::remove_file(tree.root().join("pwmchip0/pwm0/period")).unwrap();
        let err = pwm.set_duty_permille(50).unwrap_err();
        assert!(
            matches!(&err, DeviceError::Link { reason, .. } if reason.contains("pwm0/period")),
            "{err}"
        );
    }

    /// The kernel's checks on every write (`pwm_apply_state`): no zero period, no duty cycle
    /// longer than the period, whatever the channel's enable state.
    fn kernel_applies(mut s: PwmState, writes: &[PwmWrite]) -> Result<PwmState, String> {
        for &w in writes {
            let mut next = s;
            match w {
                PwmWrite::Period(p) => next.period_ns = p,
                PwmWrite::DutyCycle(d) => next.duty_ns = d,
                PwmWrite::Enable(e) => next.enabled = e,
            }
            if next.period_ns == 0 || next.duty_ns > next.period_ns {
                return Err(format!("EINVAL on {w:?} from {s:?}"));
            }
            s = next;
        }
        Ok(s)
    }

    #[test]
    fn the_write_order_is_valid_at_every_step() {
        let on = |period_ns, duty_ns| PwmState {
            period_ns,
            duty_ns,
            enabled: true,
        };
        let fresh = PwmState {
            period_ns: 0,
            duty_ns: 0,
            enabled: false,
        };
        // A freshly exported channel: the period first, enabled last.
        assert_eq!(
            plan(fresh, on(1_000_000, 50_000)),
            [
                PwmWrite::Period(1_000_000),
                PwmWrite::DutyCycle(50_000),
                PwmWrite::Enable(true)
            ]
        );
        // A shorter period with a duty cycle that does not fit: the duty cycle first.
        assert_eq!(
            plan(on(2_000_000, 1_500_000), on(1_000_000, 50_000)),
            [PwmWrite::DutyCycle(50_000), PwmWrite::Period(1_000_000)]
        );
        assert_eq!(plan(on(1_000_000, 50_000), on(1_000_000, 50_000)), []);
        assert_eq!(
            plan(on(1_000_000, 50_000), on(1_000_000, 0))[0],
            PwmWrite::DutyCycle(0)
        );
        // Every transition between these states, each written in a valid order.
        let periods = [1, 500_000, 1_000_000, 2_000_000];
        let mut states = vec![fresh];
        for &p in &periods {
            for d in [0, 1, p / 2, p] {
                for enabled in [false, true] {
                    states.push(PwmState {
                        period_ns: p,
                        duty_ns: d,
                        enabled,
                    });
                }
            }
        }
        for &from in &states {
            for &to in states.iter().filter(|s| s.period_ns > 0) {
                let writes = plan(from, to);
                assert_eq!(
                    kernel_applies(from, &writes),
                    Ok(to),
                    "{from:?} -> {to:?}: {writes:?}"
                );
            }
        }
    }

    #[test]
    fn params_validate_and_read_from_toml() {
        let bad = |p: SysfsPwmParams| SysfsPwm::open("cp", &p).unwrap_err();
        let err = bad(SysfsPwmParams {
            period_ns: 0,
            ..Default::default()
        });
        assert!(
            matches!(&err, OpenError::Config { device, reason } if device == "cp" && reason.contains("period_ns")),
            "{err}"
        );
        assert!(matches!(
            bad(SysfsPwmParams {
                chip: "../x".into(),
                ..Default::default()
            }),
            OpenError::Config { .. }
        ));
        let p: SysfsPwmParams =
            toml::from_str("channel_dir = 'pwm-0:0'\nexport_timeout = '500ms'").unwrap();
        assert_eq!(p.channel_dir, Some(PathBuf::from("pwm-0:0")));
        assert_eq!(p.export_timeout, Duration::from_millis(500));
        assert_eq!(p.period_ns, 1_000_000);
        assert!(toml::from_str::<SysfsPwmParams>("period = 5").is_err());
    }
}
