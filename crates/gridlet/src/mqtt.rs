//! `[mqtt]`: the MQTT front end (crate `mqtt`) on the runner's bus. It reads the published
//! snapshots (with the user's settings under `/settings`, as `/api/v1/settings` has them) and
//! turns valid commands into the same requests the HTTP API makes: mode, serving the car and the
//! button as their own requests, the other user settings as a settings patch, applied and
//! persisted by the control loop as a change through the page is; a patch it refuses is answered
//! on the error topic.

use std::sync::Arc;
use std::time::Duration;

use runner::settings::Patch;
use tokio::sync::{mpsc, oneshot, watch};

use crate::runner::{Published, Request, StopCause};

/// How long a settings command waits for the control loop to apply it (as the HTTP API).
const APPLY_PATIENCE: Duration = Duration::from_secs(5);

/// Runs the MQTT front end until the stop signal. Never fails the daemon: a wrong setting was
/// refused by `config check` already; anything found only now is logged.
pub(crate) fn spawn(
    settings: mqtt::MqttSettings,
    published: watch::Receiver<Option<Arc<Published>>>,
    requests: mpsc::Sender<Request>,
    mut stop: watch::Receiver<Option<StopCause>>,
) {
    let (commands, mut incoming) = mpsc::channel::<mqtt::Order>(16);
    tokio::spawn(async move {
        while let Some(order) = incoming.recv().await {
            let patch = match &order.command {
                mqtt::Command::SetMode(m) => Err(Request::SetMode(*m)),
                mqtt::Command::SetEvEnabled(on) => Err(Request::SetEvEnabled(*on)),
                mqtt::Command::PressSimButton => Err(Request::PressSimButton),
                mqtt::Command::SetEvTargetSoc(p) => Ok(Patch {
                    ev_target_soc_pct: Some(*p),
                    ..Patch::default()
                }),
                mqtt::Command::SetEvMaxCurrent(a) => Ok(Patch {
                    ev_max_current_a: Some(*a),
                    ..Patch::default()
                }),
                mqtt::Command::SetV2h(on) => Ok(Patch {
                    v2h: Some(*on),
                    ..Patch::default()
                }),
                mqtt::Command::SetRelayOverride { relay, to } => Ok(Patch {
                    relays: [(relay.clone(), *to)].into(),
                    ..Patch::default()
                }),
            };
            let patch = match patch {
                Ok(p) => p,
                Err(r) => {
                    if requests.send(r).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            let (tx, rx) = oneshot::channel();
            if requests
                .send(Request::UpdateSettings(patch, tx))
                .await
                .is_err()
            {
                order.refuse("the control loop has stopped");
                break;
            }
            match tokio::time::timeout(APPLY_PATIENCE, rx).await {
                Ok(Ok(Ok(_))) => {}
                Ok(Ok(Err(why))) => order.refuse(why),
                Ok(Err(_)) | Err(_) => order.refuse("the control loop did not answer"),
            }
        }
    });
    let version = crate::cli::VERSION.to_owned();
    tokio::spawn(async move {
        let stopped = async move {
            while stop.borrow().is_none() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        };
        let clock = Arc::new(units::SystemClock::new());
        if let Err(e) =
            mqtt::run(settings, version, published, view, commands, clock, stopped).await
        {
            tracing::error!("MQTT front end not started: {e}");
        }
    });
}

/// What the entities point into: the snapshot as `/api/v1/status` has it, plus `settings` as
/// `/api/v1/settings` has them.
fn view(p: &Published) -> serde_json::Result<serde_json::Value> {
    let mut v = serde_json::to_value(p)?;
    if let Some(m) = v.as_object_mut() {
        m.insert("settings".into(), serde_json::to_value(&p.settings)?);
    }
    Ok(v)
}
