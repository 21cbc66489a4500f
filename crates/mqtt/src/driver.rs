//! The I/O: rumqttc's event loop in a task of its own (so a slow connect is never cancelled by
//! the next snapshot), and the bridge between it and the runner's bus.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ClientError, ConnectionError, Event, LastWill, MqttOptions, Packet, QoS,
    TlsConfiguration, Transport,
};
use tokio::sync::{mpsc, watch};
use units::Clock;

use crate::bridge::{Bridge, Command, Outgoing};
use crate::settings::{MqttSettings, SettingsError};

/// First wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between reconnects: a restarted broker sees us again within this.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Requests rumqttc buffers between this task and its event loop.
const CLIENT_QUEUE: usize = 512;
/// Largest packet taken from the broker: commands are tiny; this bounds memory.
const MAX_INCOMING: usize = 16 * 1024;
/// How long the shutdown waits for `offline` to reach the broker.
const GOODBYE: Duration = Duration::from_secs(2);

/// Why the MQTT front end could not start. Once running it never fails: a lost broker is
/// retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// A setting is wrong (the configuration's fault).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The CA file cannot be used (the configuration's fault).
    #[error("[mqtt] ca_file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the TLS set-up.
    #[error("[mqtt] TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// A valid command for the control loop, and the way to answer it on `PREFIX/error` if the
/// loop refuses it (a value the configuration does not allow, a loop that did not answer).
/// Dropped without [`Order::refuse`]: taken.
#[derive(Debug)]
pub struct Order {
    /// The command.
    pub command: Command,
    topic: String,
    payload: Vec<u8>,
    refusals: mpsc::Sender<(String, Vec<u8>, String)>,
}

impl Order {
    /// Answers the command on `PREFIX/error` with `reason`.
    pub fn refuse(self, reason: impl Into<String>) {
        // Full only under a flood of refused commands, gone only when the front end has
        // stopped: the refusal is logged either way.
        let reason = reason.into();
        if self
            .refusals
            .try_send((self.topic.clone(), self.payload, reason.clone()))
            .is_err()
        {
            tracing::warn!("MQTT command on {} refused: {reason}", self.topic);
        }
    }
}

enum Net {
    Connected,
    Message(String, Vec<u8>),
    Lost(String),
}

/// Runs the MQTT front end until `stop` completes: connects (and reconnects) to the broker,
/// publishes what [`Bridge`] decides from each snapshot on `published` (turned into the JSON the
/// entities point into by `view`), and sends valid commands to `commands`. On stop it publishes
/// `offline` and disconnects.
pub async fn run<S, V, F>(
    settings: MqttSettings,
    sw_version: String,
    mut published: watch::Receiver<Option<Arc<S>>>,
    view: V,
    commands: mpsc::Sender<Order>,
    clock: Arc<dyn Clock>,
    stop: F,
) -> Result<(), MqttError>
where
    S: Send + Sync + 'static,
    V: Fn(&S) -> serde_json::Result<serde_json::Value> + Send,
    F: Future<Output = ()> + Send,
{
    settings.validate()?;
    let mut bridge = Bridge::new(&settings, sw_version);
    let options = options(&settings, &bridge)?;
    let (client, mut eventloop) = AsyncClient::new(options, CLIENT_QUEUE);
    let broker = settings.broker.to_string();

    let (net_tx, mut net) = mpsc::channel(64);
    let mut poller = AbortOnDrop(tokio::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        loop {
            let ev = match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff = MIN_BACKOFF;
                    Some(Net::Connected)
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    Some(Net::Message(p.topic, p.payload.to_vec()))
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                Ok(_) => None,
                Err(e) => {
                    let why = describe(&e);
                    if net_tx.send(Net::Lost(why)).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    None
                }
            };
            if let Some(ev) = ev
                && net_tx.send(ev).await.is_err()
            {
                break;
            }
        }
    }));

    let (refusals, mut refused) = mpsc::channel(16);
    tokio::pin!(stop);
    let mut connected = false;
    let mut last_error = String::new();
    loop {
        tokio::select! {
            () = &mut stop => break,
            ev = net.recv() => match ev {
                Some(Net::Connected) => {
                    tracing::info!("MQTT: connected to {broker}");
                    connected = true;
                    last_error.clear();
                    bridge.handle_connected(clock.now());
                }
                Some(Net::Message(topic, payload)) => {
                    bridge.handle_message(&topic, &payload);
                    // At most one command per message.
                    if let Some(command) = bridge.poll_command() {
                        let order = Order {
                            command,
                            topic,
                            payload,
                            refusals: refusals.clone(),
                        };
                        if let Err(e) = commands.try_send(order) {
                            let o = e.into_inner();
                            bridge.handle_refusal(
                                &o.topic,
                                &o.payload,
                                "the control loop is not taking requests; retry",
                            );
                        }
                    }
                }
                Some(Net::Lost(why)) => {
                    // Once per outage, not once per retry.
                    if connected || why != last_error {
                        tracing::warn!("MQTT: {broker}: {why}; retrying");
                    }
                    connected = false;
                    last_error = why;
                    bridge.handle_disconnected();
                }
                None => break,
            },
            Some((topic, payload, why)) = refused.recv() => {
                bridge.handle_refusal(&topic, &payload, &why);
            }
            changed = published.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = published.borrow_and_update().clone();
                if let Some(s) = snapshot {
                    match view(&s) {
                        Ok(v) => bridge.handle_snapshot(clock.now(), v),
                        Err(e) => tracing::error!("MQTT: snapshot not serializable: {e}"),
                    }
                }
            }
        }
        while let Some(o) = bridge.poll_transmit() {
            match send(&client, &o) {
                Ok(()) => {}
                Err(ClientError::TryRequest(_)) => {
                    // rumqttc's queue is full (a slow broker): keep it for the next turn.
                    bridge.unpoll_transmit(o);
                    break;
                }
                Err(e) => {
                    tracing::error!("MQTT: {e}");
                    break;
                }
            }
        }
    }

    if connected {
        let goodbye = async {
            client
                .publish(bridge.status_topic(), QoS::AtLeastOnce, true, "offline")
                .await?;
            client.disconnect().await
        };
        let _ = tokio::time::timeout(GOODBYE, goodbye).await;
    }
    drop(net);
    if tokio::time::timeout(GOODBYE, &mut poller.0).await.is_err() {
        tracing::warn!("MQTT: {broker} did not take the disconnect in time");
    }
    Ok(())
}

/// Ends the event loop's task when the front end ends, however it ends (also when its task is
/// aborted): the connection must not outlive it, or the broker would never publish the will.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn send(client: &AsyncClient, o: &Outgoing) -> Result<(), ClientError> {
    match o {
        Outgoing::Publish {
            topic,
            payload,
            retain,
        } => client.try_publish(topic, QoS::AtLeastOnce, *retain, payload.as_bytes()),
        Outgoing::Subscribe(filter) => client.try_subscribe(filter, QoS::AtLeastOnce),
    }
}

fn options(settings: &MqttSettings, bridge: &Bridge) -> Result<MqttOptions, MqttError> {
    let mut o = MqttOptions::new(
        &settings.client_id,
        &settings.broker.host,
        settings.broker.port,
    );
    o.set_keep_alive(settings.keep_alive);
    o.set_clean_session(true);
    o.set_max_packet_size(MAX_INCOMING, 256 * 1024);
    o.set_last_will(LastWill::new(
        bridge.status_topic(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &settings.user {
        let password = settings.resolve_password()?.unwrap_or_default();
        o.set_credentials(user, password);
    }
    if settings.tls {
        o.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(
            tls_config(settings)?,
        ))));
    }
    Ok(o)
}

fn tls_config(settings: &MqttSettings) -> Result<rustls::ClientConfig, MqttError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = &settings.ca_file {
        let err = |reason: String| MqttError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))?;
        for cert in certs {
            let cert = cert.map_err(|e| err(e.to_string()))?;
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(err("no certificate in it".into()));
        }
    } else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Says whose fault a connection error is.
fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker refused us ({code:?}): check [mqtt] user, password and client_id")
        }
        ConnectionError::Io(io) => format!("cannot reach the broker: {io}"),
        ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => {
            "the broker does not answer (timeout)".to_owned()
        }
        ConnectionError::Tls(t) => format!("TLS with the broker failed: {t}"),
        other => format!("connection lost: {other}"),
    }
}
