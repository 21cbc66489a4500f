//! The web page: its assets (embedded in the binary: the page works with no internet), the
//! live updates it listens to (SSE at `/api/v1/events`), and the settings API it writes to
//! ([`crate::settings`]).
//!
//! The page (`web/index.html`) draws its charts with uPlot, vendored in `web/vendor/` with its
//! licence.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(uplot_js))
        .routes(routes!(uplot_css))
        .routes(routes!(uplot_license))
        .routes(routes!(events))
        .with_state(published.clone())
        .merge(crate::settings::routes(published, requests))
}

/// The page.
#[utoipa::path(
    get,
    path = "/",
    tag = "meta",
    responses((status = 200, description = "The page (HTML)", content_type = "text/html", body = String))
)]
async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML, false)
}

/// uPlot (vendored, MIT), the page's charts.
#[utoipa::path(
    get,
    path = "/vendor/uPlot.iife.min.js",
    tag = "meta",
    responses((status = 200, description = "uPlot's script", content_type = "text/javascript", body = String))
)]
async fn uplot_js() -> Response {
    asset("text/javascript; charset=utf-8", UPLOT_JS, true)
}

/// uPlot's style sheet.
#[utoipa::path(
    get,
    path = "/vendor/uPlot.min.css",
    tag = "meta",
    responses((status = 200, description = "uPlot's style sheet", content_type = "text/css", body = String))
)]
async fn uplot_css() -> Response {
    asset("text/css; charset=utf-8", UPLOT_CSS, true)
}

/// uPlot's licence (MIT).
#[utoipa::path(
    get,
    path = "/vendor/uPlot.LICENSE",
    tag = "meta",
    responses((status = 200, description = "uPlot's licence", content_type = "text/plain", body = String))
)]
async fn uplot_license() -> Response {
    asset("text/plain; charset=utf-8", UPLOT_LICENSE, true)
}

/// Live updates: server-sent events, one `snapshot` event (`{"status": <as /api/v1/status>,
/// "settings": <as /api/v1/settings>}`) per new snapshot, at most two per second; the stream
/// ends when the daemon stops.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "live",
    responses((status = 200, description = "An event stream of `snapshot` events", content_type = "text/event-stream", body = String))
)]
async fn events(
    State(published): State<watch::Receiver<Option<Arc<Published>>>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    sse(published).await
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
