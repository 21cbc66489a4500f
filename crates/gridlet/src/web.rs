//! The web page: its assets (embedded in the binary: the page works with no internet), the
//! live updates it listens to (SSE at `/api/v1/events`), and the settings API it writes to
//! ([`crate::settings`]).
//!
//! The page (`web/index.html`) draws its charts with uPlot, vendored in `web/vendor/` with its
//! licence.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::runner::{Published, Request};

const INDEX_HTML: &str = include_str!("../web/index.html");
const UPLOT_JS: &str = include_str!("../web/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../web/vendor/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../web/vendor/uPlot.LICENSE");

/// The fastest the events stream sends: a snapshot per tick is more than a person reads and
/// more than a phone on Wi-Fi needs to render.
const EVENT_EVERY: Duration = Duration::from_millis(500);

/// The page, its assets, `/api/v1/events` and `/api/v1/settings`.
pub(crate) fn routes(
    published: watch::Receiver<Option<Arc<Published>>>,
    requests: mpsc::Sender<Request>,
) -> Router {
    let events = published.clone();
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML, false) }),
        )
        .route(
            "/vendor/uPlot.iife.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", UPLOT_JS, true) }),
        )
        .route(
            "/vendor/uPlot.min.css",
            get(|| async { asset("text/css; charset=utf-8", UPLOT_CSS, true) }),
        )
        .route(
            "/vendor/uPlot.LICENSE",
            get(|| async { asset("text/plain; charset=utf-8", UPLOT_LICENSE, true) }),
        )
        .route("/api/v1/events", get(move || sse(events.clone())))
        .merge(crate::settings::routes(published, requests))
}

fn asset(content_type: &'static str, body: &'static str, immutable: bool) -> Response {
    // The vendored files change only with the binary; the page itself is re-read on reload.
    let cache = if immutable {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// One event: the snapshot as `/api/v1/status` has it, and the settings.
#[derive(Serialize)]
struct Live<'a> {
    status: &'a Published,
    settings: &'a crate::settings::Settings,
}

/// `GET /api/v1/events`: server-sent events, one `snapshot` event per change of the published
/// snapshot, at most one per [`EVENT_EVERY`].
async fn sse(
    published: watch::Receiver<Option<Arc<Published>>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold((published, true), |(mut rx, first)| async move {
        if !first {
            tokio::time::sleep(EVENT_EVERY).await;
            // A new snapshot, or the end of the stream once the loop has stopped.
            rx.changed().await.ok()?;
        }
        loop {
            let latest = rx.borrow_and_update().clone();
            if let Some(p) = latest {
                let live = Live {
                    status: &p,
                    settings: &p.settings,
                };
                let event = Event::default()
                    .event("snapshot")
                    .json_data(&live)
                    .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
                return Some((Ok(event), (rx, false)));
            }
            // Nothing published yet, or the loop has stopped (then the stream ends).
            rx.changed().await.ok()?;
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
