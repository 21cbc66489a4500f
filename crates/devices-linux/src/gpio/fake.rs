//! An in-memory GPIO chip set for tests: lines have a level on the wire, outputs record what they
//! drove, inputs can be made to fail or to hang, and an input can be powered through an output
//! (the FoccciCape's single-wire button). It behaves like the kernel where the backends can tell:
//! unknown chips, offsets past the chip's end and lines already requested are refused.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::lines::{Gpio, GpioError, InputLine, LineAddr, OutputLine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Output { active_low: bool },
    Input { active_low: bool },
}

#[derive(Debug, Default)]
struct Line {
    /// The physical level on the wire: what an output drives, or what the test applies to an
    /// input.
    level: bool,
    requested: Option<Use>,
    /// Physical levels driven by outputs, in order, including the initial one.
    writes: Vec<bool>,
    reads: u64,
    fail: bool,
    hold: bool,
    /// An input supplied through this output line reads low while the output is low.
    gate: Option<LineAddr>,
}

#[derive(Debug, Default)]
struct State {
    chips: BTreeMap<String, u32>,
    lines: BTreeMap<LineAddr, Line>,
    blocked_reads: usize,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    released: Condvar,
}

/// An in-memory set of GPIO chips. Clones share the same chips, so a test keeps one clone to
/// play the world while the backend under test holds lines requested from another.
#[derive(Debug, Clone, Default)]
pub struct FakeGpio {
    shared: Arc<Shared>,
}

impl FakeGpio {
    /// No chips yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a chip at `path` (e.g. `/dev/gpiochip1`) with `lines` lines, all low.
    pub fn add_chip(&self, path: &str, lines: u32) -> &Self {
        self.state().chips.insert(path.to_owned(), lines);
        self
    }

    /// The AM335x's four banks of 32 lines, as the BeagleBone's kernel exposes them.
    pub fn beaglebone() -> Self {
        let gpio = Self::new();
        for bank in 0..4 {
            gpio.add_chip(&format!("/dev/gpiochip{bank}"), 32);
        }
        gpio
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a physical level to a line from outside (a switch, a contact).
    pub fn set_level(&self, line: &LineAddr, level: bool) {
        self.state().lines.entry(line.clone()).or_default().level = level;
    }

    /// The physical level of a line.
    pub fn level(&self, line: &LineAddr) -> bool {
        self.state().lines.get(line).is_some_and(|l| l.level)
    }

    /// The physical levels outputs drove onto `line`, in order, including the initial level of
    /// each request.
    pub fn writes(&self, line: &LineAddr) -> Vec<bool> {
        self.state()
            .lines
            .get(line)
            .map(|l| l.writes.clone())
            .unwrap_or_default()
    }

    /// How often `line` was read.
    pub fn reads(&self, line: &LineAddr) -> u64 {
        self.state().lines.get(line).map_or(0, |l| l.reads)
    }

    /// Whether `line` is requested now.
    pub fn is_requested(&self, line: &LineAddr) -> bool {
        self.state()
            .lines
            .get(line)
            .is_some_and(|l| l.requested.is_some())
    }

    /// Makes reads and writes of `line` fail (as a chip that went away: EIO) or work again.
    pub fn set_failing(&self, line: &LineAddr, fail: bool) {
        self.state().lines.entry(line.clone()).or_default().fail = fail;
    }

    /// Makes reads of `line` hang until released (a stuck bus), or releases them.
    pub fn hold_reads(&self, line: &LineAddr, hold: bool) {
        self.state().lines.entry(line.clone()).or_default().hold = hold;
        if !hold {
            self.shared.released.notify_all();
        }
    }

    /// How many reads hang in [`hold_reads`](Self::hold_reads) now.
    pub fn blocked_reads(&self) -> usize {
        self.state().blocked_reads
    }

    /// Supplies the input `input` through the output `supply`: while `supply` is low, `input`
    /// reads low whatever its own level. This is the FoccciCape's button, which is powered by
    /// its LED line and pulls it low when pressed.
    pub fn supply_input_from(&self, input: &LineAddr, supply: &LineAddr) {
        self.state().lines.entry(input.clone()).or_default().gate = Some(supply.clone());
    }

    fn request(&self, line: &LineAddr, what: Use) -> Result<(), GpioError> {
        let mut st = self.state();
        let Some(&lines) = st.chips.get(&line.chip) else {
            return Err(GpioError::new(
                line,
                "No such file or directory (os error 2)",
            ));
        };
        if line.offset >= lines {
            return Err(GpioError::new(
                line,
                format!("offset out of range: the chip has {lines} lines"),
            ));
        }
        let l = st.lines.entry(line.clone()).or_default();
        if l.requested.is_some() {
            return Err(GpioError::new(
                line,
                "Device or resource busy (os error 16)",
            ));
        }
        l.requested = Some(what);
        Ok(())
    }
}

#[derive(Debug)]
struct FakeLine {
    gpio: FakeGpio,
    addr: LineAddr,
    active_low: bool,
}

impl FakeLine {
    fn drive(&self, active: bool) -> Result<(), GpioError> {
        let mut st = self.gpio.state();
        let l = st.lines.entry(self.addr.clone()).or_default();
        if l.fail {
            return Err(GpioError::new(
                &self.addr,
                "Input/output error (os error 5)",
            ));
        }
        l.level = active != self.active_low;
        l.writes.push(l.level);
        Ok(())
    }
}

impl Drop for FakeLine {
    fn drop(&mut self) {
        // Released: the level stays, as on most chips.
        if let Some(l) = self.gpio.state().lines.get_mut(&self.addr) {
            l.requested = None;
        }
    }
}

impl OutputLine for FakeLine {
    fn set(&mut self, active: bool) -> Result<(), GpioError> {
        self.drive(active)
    }
}

impl InputLine for FakeLine {
    fn get(&mut self) -> Result<bool, GpioError> {
        let mut st = self.gpio.state();
        loop {
            let l = st.lines.entry(self.addr.clone()).or_default();
            if !l.hold {
                break;
            }
            st.blocked_reads += 1;
            st = self
                .gpio
                .shared
                .released
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
            st.blocked_reads -= 1;
        }
        let supplied = match st.lines.get(&self.addr).and_then(|l| l.gate.clone()) {
            Some(supply) => st.lines.get(&supply).is_some_and(|s| s.level),
            None => true,
        };
        let l = st.lines.entry(self.addr.clone()).or_default();
        if l.fail {
            return Err(GpioError::new(
                &self.addr,
                "Input/output error (os error 5)",
            ));
        }
        l.reads += 1;
        Ok((l.level && supplied) != self.active_low)
    }
}

impl Gpio for FakeGpio {
    fn output(
        &self,
        line: &LineAddr,
        _consumer: &str,
        active_low: bool,
        initial: bool,
    ) -> Result<Box<dyn OutputLine>, GpioError> {
        self.request(line, Use::Output { active_low })?;
        let out = FakeLine {
            gpio: self.clone(),
            addr: line.clone(),
            active_low,
        };
        // The kernel drives the initial level as part of the request; a line that cannot be
        // driven fails the request.
        out.drive(initial)?;
        Ok(Box::new(out))
    }

    fn input(
        &self,
        line: &LineAddr,
        _consumer: &str,
        active_low: bool,
    ) -> Result<Box<dyn InputLine>, GpioError> {
        self.request(line, Use::Input { active_low })?;
        Ok(Box::new(FakeLine {
            gpio: self.clone(),
            addr: line.clone(),
            active_low,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_the_kernel_refuses() {
        let gpio = FakeGpio::new();
        gpio.add_chip("/dev/gpiochip0", 4);
        let err = gpio
            .output(&LineAddr::new("/dev/gpiochip9", 0), "t", false, false)
            .unwrap_err();
        assert!(err.to_string().contains("/dev/gpiochip9"), "{err}");
        assert!(
            gpio.input(&LineAddr::new("/dev/gpiochip0", 4), "t", false)
                .is_err()
        );
        let line = LineAddr::new("/dev/gpiochip0", 1);
        let held = gpio.input(&line, "t", false).unwrap();
        assert!(gpio.output(&line, "t", false, false).is_err(), "busy");
        drop(held);
        assert!(gpio.output(&line, "t", false, false).is_ok(), "released");
    }

    #[test]
    fn active_low_inverts_and_writes_are_physical() {
        let gpio = FakeGpio::beaglebone();
        let line = LineAddr::new("/dev/gpiochip1", 18);
        let mut out = gpio.output(&line, "t", true, false).unwrap();
        assert!(gpio.level(&line), "inactive active-low line is high");
        out.set(true).unwrap();
        assert_eq!(gpio.writes(&line), [true, false]);
        let input = LineAddr::new("/dev/gpiochip1", 19);
        let mut inp = gpio.input(&input, "t", true).unwrap();
        gpio.set_level(&input, false);
        assert!(inp.get().unwrap(), "low reads active");
        gpio.set_failing(&input, true);
        assert!(inp.get().is_err());
    }

    #[test]
    fn a_supplied_input_reads_low_without_its_supply() {
        let gpio = FakeGpio::beaglebone();
        let (led, button) = (
            LineAddr::new("/dev/gpiochip3", 17),
            LineAddr::new("/dev/gpiochip3", 16),
        );
        gpio.supply_input_from(&button, &led);
        gpio.set_level(&button, true); // released
        let mut out = gpio.output(&led, "t", false, false).unwrap();
        let mut inp = gpio.input(&button, "t", false).unwrap();
        assert!(!inp.get().unwrap(), "no supply: reads low like a press");
        out.set(true).unwrap();
        assert!(inp.get().unwrap());
    }
}
