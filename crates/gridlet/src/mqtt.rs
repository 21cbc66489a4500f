//! `[mqtt]`: the MQTT front end (crate `mqtt`) on the runner's bus. It reads the published
//! snapshots and turns valid commands into the same requests the HTTP API makes.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::runner::{Published, Request, StopCause};

/// Runs the MQTT front end until the stop signal. Never fails the daemon: a wrong setting was
/// refused by `config check` already; anything found only now is logged.
pub(crate) fn spawn(
    settings: mqtt::MqttSettings,
    published: watch::Receiver<Option<Arc<Published>>>,
    requests: mpsc::Sender<Request>,
    mut stop: watch::Receiver<Option<StopCause>>,
) {
    let (commands, mut incoming) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(c) = incoming.recv().await {
            let r = match c {
                mqtt::Command::SetMode(m) => Request::SetMode(m),
                mqtt::Command::SetEvEnabled(on) => Request::SetEvEnabled(on),
                mqtt::Command::PressSimButton => Request::PressSimButton,
            };
            if requests.send(r).await.is_err() {
                break;
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
        if let Err(e) = mqtt::run(settings, version, published, commands, clock, stopped).await {
            tracing::error!("MQTT front end not started: {e}");
        }
    });
}
