//! HTTP floor of the load harness (`scripts/load`): a bare actix-web server (same crate,
//! same defaults as `sightline serve`: one worker per core) whose `POST /v1/events` reads
//! the whole body (capped at 1 MiB like ingest) and answers `202` with a small JSON body,
//! doing nothing else. Sightline's ingest throughput is reported as a ratio to this.
//!
//!     cargo run --release --example floor_http -- 127.0.0.1:PORT

use actix_web::{web, App, HttpResponse, HttpServer};

async fn events(body: web::Bytes) -> HttpResponse {
    HttpResponse::Accepted().content_type("application/json").body(format!(
        r#"{{"accepted":{},"duplicates":0,"rejected":[],"warnings":[]}}"#,
        body.len().min(50)
    ))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8090".into());
    HttpServer::new(|| {
        App::new()
            .app_data(web::PayloadConfig::new(1 << 20))
            .route("/v1/events", web::post().to(events))
            .route("/healthz", web::get().to(HttpResponse::Ok))
    })
    .bind(&listen)?
    .run()
    .await
}
