//! What a provider asks for: an HTTP request as plain data, so that parsers and request builders
//! stay free of I/O and testable.

use std::fmt;

/// HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST with a JSON body.
    Post,
}

/// One HTTP request.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// GET or POST.
    pub method: Method,
    /// The full URL, query included.
    pub url: url::Url,
    /// Extra headers (authorisation, content type).
    pub headers: Vec<(String, String)>,
    /// The body (POST).
    pub body: Option<String>,
    /// Secrets anywhere in the URL (an API key in the path), masked in errors and logs.
    pub secrets: Vec<String>,
}

/// Query parameters and headers that carry secrets; never printed.
const SECRET_PARAMS: [&str; 2] = ["securityToken", "token"];

impl HttpRequest {
    /// A GET of `url`.
    pub fn get(url: url::Url) -> Self {
        Self {
            method: Method::Get,
            url,
            headers: Vec::new(),
            body: None,
            secrets: Vec::new(),
        }
    }

    /// The URL with secrets (tokens in the query or path) replaced by `***`, for errors and logs.
    pub fn redacted_url(&self) -> String {
        let mut u = self.url.clone();
        let pairs: Vec<(String, String)> = self
            .url
            .query_pairs()
            .map(|(k, v)| {
                let v = if SECRET_PARAMS.contains(&k.as_ref()) {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        if pairs.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
        let mut shown = u.to_string();
        for secret in self.secrets.iter().filter(|s| !s.is_empty()) {
            shown = shown.replace(secret.as_str(), "***");
        }
        shown
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.redacted_url())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_redacted() {
        let r = HttpRequest::get(
            url::Url::parse("https://x.test/api?securityToken=s3cret&documentType=A44").unwrap(),
        );
        let shown = r.redacted_url();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("documentType=A44"), "{shown}");
        assert!(!format!("{r:?}").contains("s3cret"));
        let mut r = HttpRequest::get(url::Url::parse("https://x.test/k3y/estimate/1").unwrap());
        r.secrets.push("k3y".into());
        assert_eq!(r.redacted_url(), "https://x.test/***/estimate/1");
    }
}
