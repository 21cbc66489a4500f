//! The user's settings: what the page, the API and MQTT change at run time (mode, serving the
//! car, its charge target, current cap, V2H, relay overrides), on top of the configuration.
//!
//! They apply at once (the control loop applies a [`Patch`] between two ticks and answers with
//! the result) and survive a restart: a task writes them, whenever the published settings
//! change, to `[site] settings` (e.g. `/var/lib/gridlet/settings.json`) atomically (temporary
//! file, fsync, rename, fsync of the directory), so a power cut leaves the old file or the new
//! one. At start-up they are read back; a missing file means the configuration's values, a
//! corrupt one is reported and ignored (the daemon starts with the configuration's values).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use controller::{ConfigError, Mode, RelayOverride, SiteController};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::watch;
use units::{Amps, Percent};

use crate::Published;

/// The settings a user changes at run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The operating mode.
    pub mode: Mode,
    /// Whether the car may be served (start/stop; the button toggles it).
    pub ev_enabled: bool,
    /// Stop charging the car at this state of charge.
    #[cfg_attr(feature = "openapi", schema(value_type = f64, minimum = 0, maximum = 100))]
    pub ev_target_soc_pct: Percent,
    /// The largest DC current into the car; `null`: no cap of the user's.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, minimum = 0))]
    pub ev_max_current_a: Option<Amps>,
    /// The car may discharge into the house.
    pub v2h: bool,
    /// Each rule relay's override (`auto`, `on`, `off`).
    #[serde(default)]
    pub relays: BTreeMap<String, RelayOverride>,
}

impl Settings {
    /// The controller's current settings.
    pub fn of(ctl: &SiteController) -> Self {
        let ev = &ctl.config().control.ev;
        Self {
            mode: ctl.mode(),
            ev_enabled: ctl.ev_enabled(),
            ev_target_soc_pct: ev.target_soc_pct,
            ev_max_current_a: ctl.ev_max_current(),
            v2h: ev.v2h,
            relays: ctl
                .relay_overrides()
                .map(|(n, o)| (n.to_owned(), o))
                .collect(),
        }
    }
}

/// A partial update: absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"ev_target_soc_pct": 80, "v2h": true})))]
pub struct Patch {
    /// The operating mode.
    pub mode: Option<Mode>,
    /// Serve the car (start) or not (stop).
    pub ev_enabled: Option<bool>,
    /// Stop charging the car at this state of charge, %.
    #[serde(default)] // Optional in the document too (the value type hides the Option).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, minimum = 0, maximum = 100))]
    pub ev_target_soc_pct: Option<Percent>,
    /// The largest DC current into the car, A. `null` removes the cap; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, minimum = 0))]
    pub ev_max_current_a: Option<Option<Amps>>,
    /// The car may discharge into the house.
    pub v2h: Option<bool>,
    /// Overrides of rule relays by name; relays not named stay as they are.
    #[serde(default)]
    pub relays: BTreeMap<String, RelayOverride>,
}

/// A field that is present, even as `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl From<Settings> for Patch {
    fn from(s: Settings) -> Self {
        Self {
            mode: Some(s.mode),
            ev_enabled: Some(s.ev_enabled),
            ev_target_soc_pct: Some(s.ev_target_soc_pct),
            ev_max_current_a: Some(s.ev_max_current_a),
            v2h: Some(s.v2h),
            relays: s.relays,
        }
    }
}

/// Applies `p` to the controller, all or nothing: on an error nothing has changed.
pub fn apply(ctl: &mut SiteController, p: &Patch) -> Result<(), ConfigError> {
    // Every check first, then the changes.
    for name in p.relays.keys() {
        if !ctl.relay_overrides().any(|(n, _)| n == name) {
            return Err(ConfigError::Invalid {
                field: format!("relays.{name}"),
                problem: "no rule relay has this name".to_owned(),
            });
        }
    }
    let cap = p.ev_max_current_a.unwrap_or(ctl.ev_max_current());
    if cap.is_some_and(|a| !(a.0.is_finite() && a.0 >= 0.0)) {
        return Err(ConfigError::Invalid {
            field: "ev_max_current_a".to_owned(),
            problem: "must be a number ≥ 0, or null for no cap".to_owned(),
        });
    }
    let ev = &ctl.config().control.ev;
    let (target, v2h) = (
        p.ev_target_soc_pct.unwrap_or(ev.target_soc_pct),
        p.v2h.unwrap_or(ev.v2h),
    );
    // Checked like the configuration; the one change that can fail, so it goes first.
    ctl.set_ev_limits(target, v2h)?;
    ctl.set_ev_max_current(cap)?;
    for (name, o) in &p.relays {
        ctl.set_relay_override(name, *o)?;
    }
    if let Some(m) = p.mode {
        ctl.set_mode(m);
    }
    if let Some(on) = p.ev_enabled {
        ctl.set_ev_enabled(on);
    }
    Ok(())
}

/// Why the settings file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the settings file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("the settings file {0} is corrupt (delete it to start afresh): {1}")]
    Corrupt(PathBuf, serde_json::Error),
}

/// The stored settings; `None` if there is no file yet.
pub fn load(path: &Path) -> Result<Option<Settings>, LoadError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LoadError::Corrupt(path.to_owned(), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LoadError::Read(path.to_owned(), e)),
    }
}

/// Writes `s` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the
/// directory (so the rename itself survives a power cut).
pub fn store(path: &Path, s: &Settings) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let json = serde_json::to_vec_pretty(s).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Reads the stored settings at start-up and applies them. Never fails: a corrupt or
/// unreadable file, or settings the configuration no longer allows, are reported and the
/// configuration's values stay. Relays no longer configured are dropped with a warning.
pub fn restore(path: &Path, ctl: &mut SiteController) {
    let stored = match load(path) {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            tracing::error!("{e}; starting with the configuration's settings");
            return;
        }
    };
    let mut patch = Patch::from(stored);
    patch.relays.retain(|name, _| {
        let known = ctl.relay_overrides().any(|(n, _)| n == name);
        if !known {
            tracing::warn!(
                "settings: relay {name:?} is no longer configured; its override is dropped"
            );
        }
        known
    });
    match apply(ctl, &patch) {
        Ok(()) => tracing::info!("settings restored from {}", path.display()),
        Err(e) => tracing::error!(
            "the settings in {} do not fit the configuration ({e}); starting with the \
             configuration's settings",
            path.display()
        ),
    }
}

/// Writes the published settings to `path` whenever they change, until the publisher goes.
pub fn spawn_persister(
    path: PathBuf,
    mut published: watch::Receiver<Option<Arc<Published>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut written: Option<Settings> = load(&path).ok().flatten();
        loop {
            let now = published
                .borrow_and_update()
                .as_ref()
                .map(|p| p.settings.clone());
            if let Some(s) = now
                && written.as_ref() != Some(&s)
            {
                let p = path.clone();
                let copy = s.clone();
                match tokio::task::spawn_blocking(move || store(&p, &copy)).await {
                    Ok(Ok(())) => written = Some(s),
                    Ok(Err(e)) => {
                        // Retried on the next change; the running site is not affected.
                        tracing::error!("cannot store the settings in {}: {e}", path.display());
                    }
                    Err(e) => tracing::error!("settings writer: {e}"),
                }
            }
            if published.changed().await.is_err() {
                break;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    fn settings() -> Settings {
        Settings {
            mode: Mode::Hold,
            ev_enabled: false,
            ev_target_soc_pct: Percent(70.0),
            ev_max_current_a: Some(Amps(16.0)),
            v2h: false,
            relays: BTreeMap::from([("heater".to_owned(), RelayOverride::On)]),
        }
    }

    #[test]
    fn stored_settings_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        assert!(load(&path).unwrap().is_none(), "no file yet");
        store(&path, &settings()).unwrap();
        assert_eq!(load(&path).unwrap(), Some(settings()));
        let mut other = settings();
        other.mode = Mode::Off;
        store(&path, &other).unwrap();
        assert_eq!(load(&path).unwrap(), Some(other));
        assert!(!dir.path().join("settings.json.tmp").exists());
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, b"{\"mode\": \"hold\", \"ev_en").unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.to_string().contains("corrupt"), "{e}");
        std::fs::write(&path, b"{\"mode\": \"warp\"}").unwrap();
        assert!(matches!(load(&path), Err(LoadError::Corrupt(..))));
    }

    fn controller() -> SiteController {
        let cfg = controller::ControllerConfig {
            control: controller::ControlSettings::default(),
            converter: None,
            battery: true,
            pv_rated: vec![],
            changeover: false,
            relays: vec![controller::RelayRule {
                name: "heater".into(),
                when: vec![controller::Condition::SocPct(controller::Threshold {
                    on_above: Some(Percent(90.0)),
                    off_below: Some(Percent(80.0)),
                    ..Default::default()
                })],
                load_w: units::Watts::ZERO,
                min_on: Duration::ZERO,
                min_off: Duration::ZERO,
            }],
            timezone: jiff::tz::TimeZone::UTC,
        };
        SiteController::new(cfg, units::Timestamp::from_unix_secs(1_780_000_000)).unwrap()
    }

    #[test]
    fn a_patch_applies_all_or_nothing() {
        let mut ctl = controller();
        let defaults = Settings::of(&ctl);
        let bad_relay = Patch {
            mode: Some(Mode::Off),
            relays: BTreeMap::from([("sauna".to_owned(), RelayOverride::On)]),
            ..Patch::default()
        };
        assert!(apply(&mut ctl, &bad_relay).is_err());
        let bad_target = Patch {
            mode: Some(Mode::Off),
            ev_target_soc_pct: Some(Percent(20.0)), // below the V2H floor (40 %)
            ..Patch::default()
        };
        assert!(apply(&mut ctl, &bad_target).is_err());
        let bad_cap = Patch {
            mode: Some(Mode::Off),
            ev_max_current_a: Some(Some(Amps(f64::NAN))),
            ..Patch::default()
        };
        assert!(apply(&mut ctl, &bad_cap).is_err());
        assert_eq!(Settings::of(&ctl), defaults, "nothing changed");
        apply(&mut ctl, &Patch::from(settings())).unwrap();
        assert_eq!(Settings::of(&ctl), settings());
        // The cap is cleared by null, kept when absent.
        apply(&mut ctl, &Patch::default()).unwrap();
        assert_eq!(ctl.ev_max_current(), Some(Amps(16.0)));
        let clear: Patch = serde_json::from_str(r#"{"ev_max_current_a": null}"#).unwrap();
        apply(&mut ctl, &clear).unwrap();
        assert_eq!(ctl.ev_max_current(), None);
    }

    #[test]
    fn restore_uses_the_file_and_survives_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let mut ctl = controller();
        let defaults = Settings::of(&ctl);
        restore(&path, &mut ctl);
        assert_eq!(Settings::of(&ctl), defaults, "no file: the configuration's");
        std::fs::write(&path, b"\x00\xffgarbage").unwrap();
        restore(&path, &mut ctl);
        assert_eq!(Settings::of(&ctl), defaults, "corrupt: the configuration's");
        // A relay no longer configured is dropped; the rest applies.
        let mut stored = settings();
        stored.relays.insert("sauna".to_owned(), RelayOverride::Off);
        store(&path, &stored).unwrap();
        restore(&path, &mut ctl);
        assert_eq!(Settings::of(&ctl), settings());
    }

    #[test]
    fn patches_distinguish_null_from_absent() {
        let p: Patch = serde_json::from_str(r#"{"ev_max_current_a": null}"#).unwrap();
        assert_eq!(p.ev_max_current_a, Some(None));
        let p: Patch = serde_json::from_str(r#"{"mode": "off"}"#).unwrap();
        assert_eq!(p.ev_max_current_a, None);
        assert_eq!(p.mode, Some(Mode::Off));
        assert!(serde_json::from_str::<Patch>(r#"{"speed": 3}"#).is_err());
    }
}
