//! The meters' I/O: one tokio task per meter (a UDP socket, a serial port or an MQTT client)
//! decodes what arrives, publishes the newest stamped [`Measurements`] and keeps the health
//! record. The [`GridMeter`] role reads only what the task published: a silent meter keeps its
//! old stamp, and the controller's `meter_timeout` stops regulation; the task goes on listening
//! and the next good reading restores it. Garbage is reported in the health with its reason,
//! never a panic or an end of the task.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use devices::{DeviceStatus, GridMeter, GridReading, HealthCell, Monitored, Stamped};
use units::{Clock, Timestamp};

use crate::Measurements;
use crate::config::{MqttParams, ParamError, SmaEmParams, SmlParams};
use crate::json::JsonMeter;
use crate::sml::SmlStream;
use crate::speedwire::{EmReading, Message, Repr};

/// Why a meter cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A setting is wrong.
    #[error("{device}: {source}")]
    Config {
        /// The device's name.
        device: String,
        /// The setting.
        source: ParamError,
    },
    /// The meter's I/O needs a tokio runtime (the daemon, not the virtual-time simulation).
    #[error("{device}: this meter runs only in the daemon (gridlet run): no tokio runtime")]
    NoRuntime {
        /// The device's name.
        device: String,
    },
}

type Latest = Arc<Mutex<Option<Stamped<Measurements>>>>;

/// Back-off after a failed open or a lost link: 250 ms doubling to 5 s, so a meter that comes
/// back is read again within 5 s.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// A cheap handle on a meter's newest values: a second [`GridMeter`] (for the meter emulation).
#[derive(Debug, Clone)]
pub struct MeterHandle(Latest);

impl MeterHandle {
    /// The newest values, stamped.
    pub fn measurements(&self) -> Option<Stamped<Measurements>> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl GridMeter for MeterHandle {
    fn reading(&self) -> Option<Stamped<GridReading>> {
        self.measurements()
            .map(|m| Stamped::new(m.at, m.value.grid_reading()))
    }
}

/// A meter read by its own task: SMA Speedwire, SML or MQTT.
#[derive(Debug)]
pub struct NetMeter {
    latest: Latest,
    health: HealthCell,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for NetMeter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What every task shares: where to publish, how to stamp.
#[derive(Clone)]
struct Sink {
    latest: Latest,
    health: HealthCell,
    clock: Arc<dyn Clock>,
}

impl Sink {
    fn good(&self, m: Measurements) {
        let now = self.clock.now();
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(Stamped::new(now, m));
        self.health.ok(now);
    }

    fn bad(&self, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::debug!(device = %self.health.device_status(self.clock.now()).name, "{reason}");
        self.health.error(self.clock.now(), reason);
    }

    /// No good reading for longer than the stale limit (or never).
    fn quiet(&self) -> bool {
        let now = self.clock.now();
        self.health.device_status(now).health != devices::Health::Ok
    }
}

impl NetMeter {
    fn spawn<F, Fut>(
        name: &str,
        kind: &str,
        clock: Arc<dyn Clock>,
        stale_after: Duration,
        task: F,
    ) -> Result<Self, OpenError>
    where
        F: FnOnce(Sink) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OpenError::NoRuntime {
            device: name.to_owned(),
        })?;
        let latest = Latest::default();
        let health = HealthCell::new(name, kind, stale_after);
        let sink = Sink {
            latest: latest.clone(),
            health: health.clone(),
            clock,
        };
        let task = runtime.spawn(task(sink));
        Ok(Self {
            latest,
            health,
            task,
        })
    }

    /// Listens for the SMA Energy Meter or Sunny Home Manager `name` (type `sma-em`).
    pub fn sma_em(
        name: &str,
        params: &SmaEmParams,
        clock: Arc<dyn Clock>,
        stale_after: Duration,
    ) -> Result<Self, OpenError> {
        params.check().map_err(|source| OpenError::Config {
            device: name.to_owned(),
            source,
        })?;
        let params = params.clone();
        Self::spawn(name, "sma-em", clock, stale_after, |sink| {
            run_speedwire(params, sink)
        })
    }

    /// Reads the SML meter `name` on its optical head (type `sml`).
    pub fn sml(
        name: &str,
        params: &SmlParams,
        clock: Arc<dyn Clock>,
        stale_after: Duration,
    ) -> Result<Self, OpenError> {
        params.check().map_err(|source| OpenError::Config {
            device: name.to_owned(),
            source,
        })?;
        let params = params.clone();
        Self::spawn(name, "sml", clock, stale_after, |sink| {
            run_sml(params, sink)
        })
    }

    /// Subscribes to the MQTT meter `name` (type `mqtt`).
    pub fn mqtt(
        name: &str,
        params: &MqttParams,
        clock: Arc<dyn Clock>,
        stale_after: Duration,
    ) -> Result<Self, OpenError> {
        let config = |source| OpenError::Config {
            device: name.to_owned(),
            source,
        };
        let json = params.json().map_err(config)?;
        let (host, port) = params.broker().map_err(config)?;
        let params = params.clone();
        Self::spawn(name, "mqtt", clock, stale_after, move |sink| {
            run_mqtt(params, host, port, json, sink)
        })
    }

    /// A handle on the newest values.
    pub fn handle(&self) -> MeterHandle {
        MeterHandle(self.latest.clone())
    }

    /// Its health record.
    pub fn health(&self) -> HealthCell {
        self.health.clone()
    }
}

impl GridMeter for NetMeter {
    fn reading(&self) -> Option<Stamped<GridReading>> {
        self.handle().reading()
    }
}

impl Monitored for NetMeter {
    fn device_status(&self, now: Timestamp) -> DeviceStatus {
        self.health.device_status(now)
    }
}

fn speedwire_socket(p: &SmaEmParams) -> std::io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(p.listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // SMA's own tools and other readers listen on 9522 too.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&p.listen.into())?;
    if p.multicast {
        socket.join_multicast_v4(&p.group, &p.interface)?;
    }
    tokio::net::UdpSocket::from_std(socket.into())
}

async fn run_speedwire(p: SmaEmParams, sink: Sink) {
    let mut backoff = BACKOFF_MIN;
    let mut locked = p.serial;
    let mut buf = vec![0u8; 2048];
    loop {
        let socket = match speedwire_socket(&p) {
            Ok(s) => s,
            Err(e) => {
                let how = if p.multicast {
                    format!(" joining {} on {}", p.group, p.interface)
                } else {
                    String::new()
                };
                sink.bad(format!("cannot listen on udp {}{how}: {e}", p.listen));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        loop {
            let (n, from) = match socket.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    sink.bad(format!("udp {}: {e}", p.listen));
                    break;
                }
            };
            let bytes = buf.get(..n).unwrap_or_default();
            handle_datagram(bytes, from, &mut locked, p.serial, &sink);
        }
        tokio::time::sleep(backoff).await;
    }
}

fn handle_datagram(
    bytes: &[u8],
    from: SocketAddr,
    locked: &mut Option<u32>,
    configured: Option<u32>,
    sink: &Sink,
) {
    let repr = match Repr::parse_bytes(bytes) {
        Ok(Message::Emeter(r)) => r,
        // Inverters, discovery, the Home Manager's charger protocol: not ours.
        Ok(Message::Other { .. }) => return,
        Err(e) => return sink.bad(format!("from {from}: {e}")),
    };
    match *locked {
        None => *locked = Some(repr.serial),
        Some(s) if s != repr.serial => {
            // Another meter on the group: ignored, but say so while ours is silent.
            if sink.quiet() {
                let which = if configured.is_some() {
                    "the configured"
                } else {
                    "the first one heard,"
                };
                sink.bad(format!(
                    "datagrams from serial {} at {from}, not from {which} serial {s}",
                    repr.serial
                ));
            }
            return;
        }
        Some(_) => {}
    }
    match EmReading::from_repr(&repr).measurements(repr.serial) {
        Ok(m) => sink.good(m),
        Err(e) => sink.bad(format!("from {from}: {e}")),
    }
}

fn open_serial(p: &SmlParams) -> std::io::Result<tokio_serial::SerialStream> {
    use tokio_serial::{DataBits, Parity, SerialPortBuilderExt as _, StopBits};
    tokio_serial::new(p.device.to_string_lossy(), p.baud)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::One)
        .open_native_async()
        .map_err(std::io::Error::from)
}

async fn run_sml(p: SmlParams, sink: Sink) {
    use tokio::io::AsyncReadExt as _;
    let mut backoff = BACKOFF_MIN;
    let mut buf = [0u8; 512];
    loop {
        let mut port = match open_serial(&p) {
            Ok(port) => port,
            Err(e) => {
                sink.bad(format!("cannot open {}: {e}", p.device.display()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        // A new stream per opening: a half frame from before does not join the next one.
        let mut stream = SmlStream::new();
        loop {
            match port.read(&mut buf).await {
                Ok(0) => {
                    sink.bad(format!("{}: closed", p.device.display()));
                    break;
                }
                Ok(n) => stream.push(buf.get(..n).unwrap_or_default(), |r| {
                    match r.and_then(|r| r.measurements()) {
                        Ok(m) => sink.good(m),
                        Err(e) => sink.bad(format!("{}: {e}", p.device.display())),
                    }
                }),
                Err(e) => {
                    sink.bad(format!("{}: {e}", p.device.display()));
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

async fn run_mqtt(p: MqttParams, host: String, port: u16, json: JsonMeter, sink: Sink) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new(&p.client_id, &host, port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_clean_session(true);
    if let Some(user) = &p.username {
        options.set_credentials(user, p.password.as_deref().unwrap_or(""));
    }
    let (client, mut events) = AsyncClient::new(options, 16);
    let mut backoff = BACKOFF_MIN;
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = BACKOFF_MIN;
                // A clean session forgets subscriptions: subscribe on every connection.
                if let Err(e) = client.try_subscribe(&p.topic, QoS::AtMostOnce) {
                    sink.bad(format!("broker {}: cannot subscribe: {e}", p.broker));
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                {
                    sink.bad(format!(
                        "broker {} refused the subscription to {}",
                        p.broker, p.topic
                    ));
                }
            }
            Ok(Event::Incoming(Packet::Publish(msg))) => match json.decode(&msg.payload) {
                Ok(m) => sink.good(m),
                Err(e) => sink.bad(format!("{}: {e}", msg.topic)),
            },
            Ok(_) => {}
            Err(e) => {
                sink.bad(format!("broker {}: {e}", p.broker));
                // The next poll reconnects.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}
