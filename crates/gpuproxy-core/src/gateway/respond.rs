//! Building answers: the response body type and OpenAI-shaped errors.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every answer's body: a full buffer, a metered upstream stream, or a proxied one.
pub type OutBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn full(body: impl Into<Bytes>) -> OutBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The one error vocabulary: the OpenAI `type` of each status an error answer can have.
///
/// The data plane answers with it, and the control plane reads it as
/// `gpuproxy._core.ERROR_TYPES` (`python/gpuproxy/error_types.py`), so a status means the
/// same `type` on every route. A status not listed is `api_error` from 500 up and
/// `invalid_request_error` below, as OpenAI answers (an unknown model is a 404
/// `invalid_request_error` with code `model_not_found`).
pub const ERROR_TYPES: [(u16, &str); 14] = [
    (400, "invalid_request_error"),
    (401, "authentication_error"),
    (402, "insufficient_quota"),
    (403, "permission_error"),
    (404, "invalid_request_error"),
    (405, "invalid_request_error"),
    (408, "timeout_error"),
    (413, "invalid_request_error"),
    (415, "invalid_request_error"),
    (422, "invalid_request_error"),
    (429, "rate_limit_error"),
    (502, "upstream_error"),
    (503, "service_unavailable"),
    (504, "upstream_timeout"),
];

/// The `type` an OpenAI client expects for a status (see [`ERROR_TYPES`]).
pub fn error_type(status: u16) -> &'static str {
    ERROR_TYPES
        .iter()
        .find(|(listed, _)| *listed == status)
        .map_or(
            if status >= 500 {
                "api_error"
            } else {
                "invalid_request_error"
            },
            |(_, kind)| kind,
        )
}

/// An error the data plane decided itself.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub code: Option<&'static str>,
    pub param: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: None,
            param: None,
            headers: Vec::new(),
        }
    }

    #[must_use]
    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    #[must_use]
    pub fn param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(&self) -> Bytes {
        let v = serde_json::json!({
            "error": {
                "message": self.message,
                "type": error_type(self.status),
                "param": self.param,
                "code": self.code,
            }
        });
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }

    pub fn into_response(self) -> Response<OutBody> {
        let body = self.body();
        let mut resp = json_response(self.status, body);
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().append(k, v);
            }
        }
        resp
    }
}

pub fn json_response(status: u16, body: Bytes) -> Response<OutBody> {
    let len = body.len();
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_error_shape() {
        let e = ApiError::new(404, "no such model")
            .code("model_not_found")
            .param("model");
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["param"], "model");
        let v: serde_json::Value = serde_json::from_slice(&ApiError::new(401, "x").body()).unwrap();
        assert!(v["error"]["param"].is_null());
    }

    #[test]
    fn unlisted_statuses_fall_back_by_class() {
        assert_eq!(error_type(418), "invalid_request_error");
        assert_eq!(error_type(500), "api_error");
        assert_eq!(error_type(504), "upstream_timeout");
    }
}
