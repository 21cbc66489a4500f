//! The web page: its assets (embedded in the binary: the page works with no internet), the
//! live updates it listens to (SSE at `/api/v1/events`), and the settings API it writes to
//! ([`crate::settings`]).
//!
//! The page (`web/index.html`) draws its charts with uPlot, vendored in `web/vendor/` with its
//! licence.
//!
//! The assets are gzipped at build time (`build.rs`) and embedded only so: a client that sends
//! `Accept-Encoding: gzip` (every browser) gets the embedded bytes as they are, with
//! `Content-Encoding: gzip`; another gets them inflated per request. Each carries a strong ETag
//! (one per representation) and `Vary: Accept-Encoding`; a matching `If-None-Match` gets 304.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::runner::{Published, Request};

/// An asset as `build.rs` embeds it.
#[derive(Debug, Clone, Copy)]
struct Embedded {
    /// The gzip member.
    gz: &'static [u8],
    /// The plain length.
    len: usize,
    /// The plain representation's strong ETag, quoted.
    etag: &'static str,
    /// The gzipped representation's strong ETag, quoted.
    etag_gz: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

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
    responses(
        (status = 200, description = "The page (HTML); gzipped if the client accepts it", content_type = "text/html", body = String),
        (status = 304, description = "Not modified (`If-None-Match` has its ETag)"),
    )
)]
async fn index(headers: HeaderMap) -> Response {
    asset(&headers, "text/html; charset=utf-8", INDEX_HTML, false)
}

/// uPlot (vendored, MIT), the page's charts.
#[utoipa::path(
    get,
    path = "/vendor/uPlot.iife.min.js",
    tag = "meta",
    responses(
        (status = 200, description = "uPlot's script; gzipped if the client accepts it", content_type = "text/javascript", body = String),
        (status = 304, description = "Not modified (`If-None-Match` has its ETag)"),
    )
)]
async fn uplot_js(headers: HeaderMap) -> Response {
    asset(&headers, "text/javascript; charset=utf-8", UPLOT_JS, true)
}

/// uPlot's style sheet.
#[utoipa::path(
    get,
    path = "/vendor/uPlot.min.css",
    tag = "meta",
    responses(
        (status = 200, description = "uPlot's style sheet; gzipped if the client accepts it", content_type = "text/css", body = String),
        (status = 304, description = "Not modified (`If-None-Match` has its ETag)"),
    )
)]
async fn uplot_css(headers: HeaderMap) -> Response {
    asset(&headers, "text/css; charset=utf-8", UPLOT_CSS, true)
}

/// uPlot's licence (MIT).
#[utoipa::path(
    get,
    path = "/vendor/uPlot.LICENSE",
    tag = "meta",
    responses(
        (status = 200, description = "uPlot's licence; gzipped if the client accepts it", content_type = "text/plain", body = String),
        (status = 304, description = "Not modified (`If-None-Match` has its ETag)"),
    )
)]
async fn uplot_license(headers: HeaderMap) -> Response {
    asset(&headers, "text/plain; charset=utf-8", UPLOT_LICENSE, true)
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

fn asset(
    request: &HeaderMap,
    content_type: &'static str,
    a: Embedded,
    immutable: bool,
) -> Response {
    // The vendored files change only with the binary; the page itself is revalidated on
    // reload (a 304 when the binary has not changed).
    let cache = if immutable {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    let gzip = accepts_gzip(request);
    let etag = if gzip { a.etag_gz } else { a.etag };
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::ETAG, HeaderValue::from_static(etag));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if none_match(request, etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return (headers, a.gz).into_response();
    }
    let mut plain = Vec::with_capacity(a.len);
    match std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(a.gz), &mut plain) {
        Ok(_) => (headers, plain).into_response(),
        // Only a broken build gets here: the bytes were gzipped by build.rs.
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the embedded asset does not inflate: {e}"),
        )
            .into_response(),
    }
}

/// True if `Accept-Encoding` takes gzip (`gzip`, `x-gzip` or `*`, with a q-value above 0;
/// RFC 9110 §12.5.3).
fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut star = None;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let q = parts
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok());
            // A malformed q-value: not accepted.
            let ok = q.is_some_and(|q| q > 0.0);
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(gzip.unwrap_or(false) || ok);
            } else if coding == "*" {
                star = Some(ok);
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

/// True if `If-None-Match` names `etag` or is `*` (weak comparison, RFC 9110 §13.1.2).
fn none_match(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Read as _;

    use axum::Router;
    use axum::body::Body;
    use tower::ServiceExt as _;

    use super::*;

    /// Every asset's path and its source file.
    const FILES: [(&str, &str); 4] = [
        ("/", "web/index.html"),
        ("/vendor/uPlot.iife.min.js", "web/vendor/uPlot.iife.min.js"),
        ("/vendor/uPlot.min.css", "web/vendor/uPlot.min.css"),
        ("/vendor/uPlot.LICENSE", "web/vendor/uPlot.LICENSE"),
    ];

    fn router() -> Router {
        let (_tx, published) = watch::channel(None);
        let (requests, _rx) = mpsc::channel(1);
        routes(published, requests).split_for_parts().0
    }

    async fn get(path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = axum::http::Request::builder().uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = router()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (parts.status, parts.headers, body.to_vec())
    }

    fn source(file: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
    }

    fn header(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
        h.get(name).map(|v| v.to_str().unwrap())
    }

    #[tokio::test]
    async fn assets_are_served_gzipped_or_plain_as_asked() {
        for (path, file) in FILES {
            let want = source(file);
            let (code, plain_h, plain) = get(path, &[]).await;
            assert_eq!(code, StatusCode::OK, "{path}");
            assert_eq!(plain, want, "{path}: plain bytes");
            assert_eq!(header(&plain_h, header::CONTENT_ENCODING), None, "{path}");
            assert_eq!(header(&plain_h, header::VARY), Some("accept-encoding"));

            let (code, gz_h, gz) = get(path, &[("accept-encoding", "gzip, deflate, br")]).await;
            assert_eq!(code, StatusCode::OK, "{path}");
            assert_eq!(
                header(&gz_h, header::CONTENT_ENCODING),
                Some("gzip"),
                "{path}"
            );
            assert_eq!(header(&gz_h, header::VARY), Some("accept-encoding"));
            assert_eq!(
                header(&gz_h, header::CONTENT_TYPE),
                header(&plain_h, header::CONTENT_TYPE)
            );
            assert!(
                gz.len() < want.len(),
                "{path}: {} ≥ {}",
                gz.len(),
                want.len()
            );
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut inflated)
                .unwrap();
            assert_eq!(inflated, want, "{path}: gzipped bytes");

            // Strong ETags, one per representation.
            let (tag, tag_gz) = (
                header(&plain_h, header::ETAG).unwrap(),
                header(&gz_h, header::ETAG).unwrap(),
            );
            assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
            assert!(tag_gz.starts_with('"') && tag_gz.ends_with('"'), "{tag_gz}");
            assert_ne!(tag, tag_gz, "{path}");

            // A matching If-None-Match: 304, no body, the same validators.
            let (code, h, body) = get(path, &[("if-none-match", tag)]).await;
            assert_eq!(code, StatusCode::NOT_MODIFIED, "{path}");
            assert!(body.is_empty());
            assert_eq!(header(&h, header::ETAG), Some(tag));
            assert_eq!(header(&h, header::VARY), Some("accept-encoding"));
            let listed = format!("\"other\", W/{tag_gz}");
            let (code, _, body) = get(
                path,
                &[("accept-encoding", "gzip"), ("if-none-match", &listed)],
            )
            .await;
            assert_eq!(code, StatusCode::NOT_MODIFIED, "{path}: {listed}");
            assert!(body.is_empty());
            // Another representation's or another version's tag: the asset.
            let (code, _, body) = get(path, &[("if-none-match", tag_gz)]).await;
            assert_eq!((code, body), (StatusCode::OK, want.clone()), "{path}");
            let (code, _, _) = get(path, &[("if-none-match", "\"stale\"")]).await;
            assert_eq!(code, StatusCode::OK, "{path}");
        }
    }

    #[test]
    fn accept_encoding_is_read_as_rfc_9110_says() {
        let accepts = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        assert!(!accepts_gzip(&HeaderMap::new()), "no header: identity");
        for yes in [
            "gzip",
            "GZip",
            "deflate, gzip;q=0.5",
            "x-gzip",
            "*",
            "br;q=1, *;q=0.1",
        ] {
            assert!(accepts(yes), "{yes}");
        }
        for no in [
            "identity",
            "br",
            "gzip;q=0",
            "gzip; q=0.0, *",
            "*;q=0",
            "gzip;q=x",
            "",
        ] {
            assert!(!accepts(no), "{no}");
        }
    }

    /// Every asset the page loads is one this module serves.
    #[test]
    fn the_page_loads_only_embedded_assets() {
        let page = String::from_utf8(source("web/index.html")).unwrap();
        for (path, _) in &FILES[1..3] {
            assert!(page.contains(&path[1..]), "the page does not load {path}");
        }
    }
}
