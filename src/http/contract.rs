//! The HTTP contract read from the OpenAPI document: `HEAD` as `GET`, `405` with `Allow`,
//! unknown query parameters refused.

use super::ApiError;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

/// The HTTP contract of the OpenAPI document ([`crate::http::openapi::ApiDoc`]), read once: for
/// each path pattern, the methods it answers and, per method, the query parameters the
/// operation reads. The one table behind `405` with `Allow` ([`unrouted`]) and the refusal of
/// unknown query parameters ([`http_contract`]), so neither can drift from the routes
/// (`tests/docs.rs` checks that every registered route is in the document).
struct Contract(std::collections::HashMap<String, Vec<(Method, Operation)>>);

/// One operation of the [`Contract`].
struct Operation {
    /// The query parameters it reads.
    query: Vec<String>,
    /// Whether query parameters not in `query` are refused: operations of the query and admin
    /// API (tags `query`, `admin`). The snippet, ingest and operations routes ignore extra
    /// ones (a cache buster on `/s.js` must not cost the page its analytics).
    strict: bool,
}

/// Methods in the order `Allow` lists them.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

static CONTRACT: std::sync::LazyLock<Contract> = std::sync::LazyLock::new(Contract::from_openapi);

impl Contract {
    fn from_openapi() -> Contract {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(crate::http::openapi::ApiDoc::openapi()).expect("the OpenAPI document is JSON");
        let mut paths = std::collections::HashMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            let mut ops = Vec::new();
            for m in METHODS {
                let Some(op) = item.get(m.as_str().to_ascii_lowercase()) else {
                    continue;
                };
                let query = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .collect();
                let strict = op["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "query" || t == "admin"));
                ops.push((m, Operation { query, strict }));
            }
            paths.insert(path.clone(), ops);
        }
        Contract(paths)
    }

    /// The methods `pattern` answers, in [`METHODS`] order, `HEAD` wherever `GET` is. A
    /// registered pattern the document leaves out (the dashboard's redirects and static
    /// assets, see `tests/docs.rs`) answers `GET` and `HEAD`.
    fn allowed(&self, pattern: &str) -> Vec<Method> {
        let documented: Vec<_> = match self.0.get(pattern) {
            Some(ops) => ops.iter().map(|(m, _)| m.clone()).collect(),
            None => vec![Method::GET],
        };
        let get = documented.contains(&Method::GET);
        METHODS
            .into_iter()
            .filter(|m| documented.contains(m) || (get && *m == Method::HEAD))
            .collect()
    }

    /// Whether the document lists `method` on a path template (`{…}` matching one segment)
    /// that `path` fits: a route some role's process serves.
    fn lists(&self, path: &str, method: &Method) -> bool {
        self.0.iter().any(|(template, ops)| {
            actix_web::dev::ResourceDef::new(template.as_str()).is_match(path) && ops.iter().any(|(m, _)| m == method)
        })
    }

    fn operation(&self, pattern: &str, method: &Method) -> Option<&Operation> {
        self.0.get(pattern)?.iter().find(|(m, _)| m == method).map(|(_, op)| op)
    }
}

/// Marks a `HEAD` request that [`http_contract`] routes as `GET`.
#[derive(Clone, Copy)]
struct HeadRequest;

/// Middleware (`App::wrap(from_fn(http_contract))`, innermost) applying the [`Contract`]
/// before routing:
/// - `HEAD` is routed as `GET`, so every `GET` route answers `HEAD` with the same status and
///   headers; the HTTP layer sends no body for a `HEAD` request.
/// - A query or admin API operation refuses a query parameter it does not read: `400`
///   naming the parameter and listing the known ones (checked once for the whole request, so
///   a handler taking several `web::Query` extractors is judged by all of its parameters).
pub async fn http_contract(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse, actix_web::Error> {
    use actix_web::HttpMessage;
    if req.method() == Method::HEAD {
        req.extensions_mut().insert(HeadRequest);
        req.head_mut().method = Method::GET;
    }
    if !req.query_string().is_empty() {
        if let Err(e) = check_query(&req) {
            return Ok(req.error_response(e));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// `400` for the first query parameter the request's operation does not read (strict
/// operations only, see [`Operation::strict`]).
fn check_query(req: &actix_web::dev::ServiceRequest) -> Result<(), ApiError> {
    let Some(pattern) = req.resource_map().match_pattern(req.path()) else {
        return Ok(());
    };
    let Some(op) = CONTRACT.operation(&pattern, req.method()).filter(|op| op.strict) else {
        return Ok(());
    };
    for (name, _) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if !op.query.iter().any(|q| *q == name) {
            let known = if op.query.is_empty() {
                "none".to_string()
            } else {
                op.query.join(", ")
            };
            return Err(ApiError::bad(
                &name,
                &format!("unknown query parameter of {} {pattern}; known: {known}", req.method()),
            ));
        }
    }
    Ok(())
}

/// The default service, for a request no route took: `405` with `Allow` when some route
/// serves the path with other methods (the body names the method), else a JSON `404`
/// naming the path.
pub async fn unrouted(req: HttpRequest) -> HttpResponse {
    use actix_web::HttpMessage;
    let method = if req.extensions().contains::<HeadRequest>() {
        Method::HEAD
    } else {
        req.method().clone()
    };
    if let Some(pattern) = req.resource_map().match_pattern(req.path()) {
        let allowed = CONTRACT.allowed(&pattern);
        // A method the document lists but no route took is served by another role's process.
        if !allowed.contains(&method) {
            let allow = allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
            let mut r = ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                field: "method".into(),
                reason: format!("{method} is not allowed on {}; allowed: {allow}", req.path()),
            }
            .error_response();
            if let Ok(v) = header::HeaderValue::from_str(&allow) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return r;
        }
    }
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "field": "path",
        // A route of the contract that this process did not mount belongs to a role it does
        // not run; any other path is simply not part of the API.
        "reason": if CONTRACT.lists(req.path(), &method) {
            format!("no {method} {} in this process: it is served by a process running another role (see --roles)", req.path())
        } else {
            format!("no {method} {} (see /v1/openapi.json)", req.path())
        },
    }))
}
