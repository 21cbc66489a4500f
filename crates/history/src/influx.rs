//! InfluxDB export, sans-IO: 10 s samples as line protocol, a bounded queue, batches and
//! exponential backoff. The caller does the HTTP (`POST` of [`Exporter::poll_batch`]'s body to
//! [`Target::url`]) and reports how it went.
//!
//! Line protocol: <https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/>.

use std::collections::VecDeque;
use std::time::Duration;

use units::Timestamp;

use crate::downsample::{Resolution, Row};

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// InfluxDB 1.x (and VictoriaMetrics): `POST /write?db=`.
    V1 {
        /// `http://host:8086`.
        url: String,
        /// The database.
        db: String,
        /// Basic-auth user and password, if the server wants them.
        auth: Option<(String, String)>,
    },
    /// InfluxDB 2.x: `POST /api/v2/write?org=&bucket=` with a token.
    V2 {
        /// `http://host:8086`.
        url: String,
        /// The organisation.
        org: String,
        /// The bucket.
        bucket: String,
        /// The API token (never logged).
        token: String,
    },
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Target {
    /// The write URL (seconds precision).
    pub fn url(&self) -> String {
        match self {
            Self::V1 { url, db, .. } => format!(
                "{}/write?db={}&precision=s",
                url.trim_end_matches('/'),
                encode(db)
            ),
            Self::V2 {
                url, org, bucket, ..
            } => format!(
                "{}/api/v2/write?org={}&bucket={}&precision=s",
                url.trim_end_matches('/'),
                encode(org),
                encode(bucket)
            ),
        }
    }

    /// The `Authorization` header, if any.
    pub fn authorization(&self) -> Option<String> {
        match self {
            Self::V1 { auth: None, .. } => None,
            Self::V1 {
                auth: Some((u, p)), ..
            } => Some(format!("Basic {}", base64(format!("{u}:{p}").as_bytes()))),
            Self::V2 { token, .. } => Some(format!("Token {token}")),
        }
    }
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Escapes a measurement name, tag key or value, or field key: commas, spaces, equals signs.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | ' ' | '=' | '\\') {
            out.push('\\');
        }
        if c == '\n' {
            out.push(' ');
            continue;
        }
        out.push(c);
    }
    out
}

/// One line: `measurement[,tags] field=value,... t` (seconds). `None` without fields.
pub fn line(
    measurement: &str,
    tags: &[(String, String)],
    fields: &[(&str, f64)],
    t: i64,
) -> Option<String> {
    let mut out = escape(measurement);
    for (k, v) in tags {
        out.push(',');
        out.push_str(&escape(k));
        out.push('=');
        out.push_str(&escape(v));
    }
    let mut first = true;
    for (k, v) in fields.iter().filter(|(_, v)| v.is_finite()) {
        out.push(if first { ' ' } else { ',' });
        first = false;
        out.push_str(&escape(k));
        out.push('=');
        // Always a float: a field's type must not change between writes.
        if v.fract() == 0.0 && v.abs() < 1e15 {
            out.push_str(&format!("{v:.1}"));
        } else {
            out.push_str(&format!("{v}"));
        }
    }
    if first {
        return None;
    }
    out.push_str(&format!(" {t}"));
    Some(out)
}

/// The lines of the 10 s samples among `rows`: one line per sample time, every series a field.
pub fn lines(measurement: &str, tags: &[(String, String)], rows: &[Row]) -> Vec<String> {
    let mut by_t: std::collections::BTreeMap<i64, Vec<(&str, f64)>> = Default::default();
    for r in rows.iter().filter(|r| r.resolution == Resolution::Raw) {
        by_t.entry(r.t).or_default().push((&r.series, r.mean));
    }
    by_t.into_iter()
        .filter_map(|(t, fields)| line(measurement, tags, &fields, t))
        .collect()
}

/// The export queue: lines in, batches out, retried with exponential backoff. Bounded: when
/// the server is away longer than the queue holds, the oldest lines are dropped (and counted),
/// so the daemon's memory stays bounded.
#[derive(Debug)]
pub struct Exporter {
    queue: VecDeque<String>,
    max_lines: usize,
    batch_lines: usize,
    in_flight: Option<usize>,
    next_try: Option<Timestamp>,
    backoff: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    dropped: u64,
    sent: u64,
}

impl Exporter {
    /// A queue of at most `max_lines`, sent `batch_lines` at a time.
    pub fn new(max_lines: usize, batch_lines: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            max_lines: max_lines.max(1),
            batch_lines: batch_lines.max(1),
            in_flight: None,
            next_try: None,
            backoff: Duration::from_secs(1),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            dropped: 0,
            sent: 0,
        }
    }

    /// Queues lines.
    pub fn handle_lines(&mut self, lines: impl IntoIterator<Item = String>) {
        for l in lines {
            if self.queue.len() >= self.max_lines {
                // Never the lines of a batch in flight: their answer would drop the wrong ones.
                if self.in_flight.is_some_and(|n| n >= self.queue.len()) {
                    self.dropped += 1;
                    continue;
                }
                let at = self.in_flight.unwrap_or(0);
                self.queue.remove(at);
                self.dropped += 1;
            }
            self.queue.push_back(l);
        }
    }

    /// The body of the next batch to send at `now`, if one is due and none is in flight.
    pub fn poll_batch(&mut self, now: Timestamp) -> Option<String> {
        if self.in_flight.is_some() || self.queue.is_empty() {
            return None;
        }
        if self.next_try.is_some_and(|t| now < t) {
            return None;
        }
        let n = self.queue.len().min(self.batch_lines);
        let mut body = String::new();
        for l in self.queue.iter().take(n) {
            body.push_str(l);
            body.push('\n');
        }
        self.in_flight = Some(n);
        Some(body)
    }

    /// How the batch in flight went at `now`. A rejected batch (4xx: the server will never take
    /// it) is dropped; a failed one (network, 5xx) is retried after the backoff.
    pub fn handle_result(&mut self, now: Timestamp, result: SendResult) {
        let Some(n) = self.in_flight.take() else {
            return;
        };
        match result {
            SendResult::Ok | SendResult::Rejected => {
                self.queue.drain(..n.min(self.queue.len()));
                if result == SendResult::Ok {
                    self.sent += n as u64;
                } else {
                    self.dropped += n as u64;
                }
                self.backoff = self.min_backoff;
                self.next_try = None;
            }
            SendResult::Failed => {
                self.next_try = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(self.max_backoff);
            }
        }
    }

    /// When the next retry is due, if one waits.
    pub fn next_try(&self) -> Option<Timestamp> {
        self.next_try
    }

    /// Lines waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Lines sent, and lines dropped (queue full or rejected).
    pub fn counts(&self) -> (u64, u64) {
        (self.sent, self.dropped)
    }
}

/// How a batch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendResult {
    /// 2xx.
    Ok,
    /// 4xx: the server refuses these lines; retrying will not help.
    Rejected,
    /// Network error or 5xx: retry later.
    Failed,
}
