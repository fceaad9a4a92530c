//! Request body reading and decoding with caps enforced while reading and while
//! decompressing, never after (`cases/ingest.md` I3, I6).

use super::IngestError;
use actix_web::web;
use futures_util::StreamExt;
use std::io::Read;

/// Read the raw body, refusing it with `413` as soon as it passes `cap` bytes, and with
/// `408` when the next chunk takes longer than `chunk_timeout` (a slow client must not hold a
/// worker and an in-flight permit for ever). On a `413`, `sample` gets the body's first
/// `sample_cap` bytes, so the refusal's dead letter shows what was sent.
pub async fn read_capped(
    mut payload: web::Payload,
    cap: usize,
    chunk_timeout: std::time::Duration,
    sample: &mut Vec<u8>,
    sample_cap: usize,
) -> Result<Vec<u8>, IngestError> {
    let mut body = Vec::new();
    loop {
        let Ok(next) = tokio::time::timeout(chunk_timeout, payload.next()).await else {
            return Err(IngestError::SlowBody(chunk_timeout.as_millis() as u64));
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| IngestError::Malformed {
            field: "body".into(),
            reason: format!("could not read the body: {e}"),
        })?;
        if body.len() + chunk.len() > cap {
            body.extend_from_slice(&chunk[..chunk.len().min(sample_cap.saturating_sub(body.len()))]);
            sample.clear();
            sample.extend_from_slice(&body[..body.len().min(sample_cap)]);
            return Err(IngestError::TooLarge {
                limit: cap,
                what: "request body",
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The content codings to undo, outermost last (as in `Content-Encoding: gzip, br`).
/// `?compression=gzip` adds gzip for beacons, which cannot set headers; a body starting
/// with the gzip magic bytes `1f 8b` is gunzipped even when nothing says so.
pub fn codings(
    content_encoding: Option<&str>,
    query_compression: Option<&str>,
    body: &[u8],
) -> Result<Vec<String>, IngestError> {
    let mut out: Vec<String> = content_encoding
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s != "identity")
        .collect();
    if let Some(q) = query_compression
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s != "identity")
    {
        if out.is_empty() {
            out.push(q);
        }
    }
    if out.is_empty() && body.starts_with(&[0x1f, 0x8b]) {
        out.push("gzip".into());
    }
    for c in &out {
        if !matches!(c.as_str(), "gzip" | "x-gzip" | "deflate" | "br") {
            return Err(IngestError::UnsupportedEncoding(c.clone()));
        }
    }
    Ok(out)
}

/// Undo `codings` right to left, each step capped at `cap` decoded bytes.
pub fn decode(mut body: Vec<u8>, codings: &[String], cap: usize) -> Result<Vec<u8>, IngestError> {
    for c in codings.iter().rev() {
        let reader: Box<dyn Read + '_> = match c.as_str() {
            "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
            "deflate" => {
                // `deflate` is zlib-wrapped by the standard; some clients send raw deflate.
                if body.first().is_some_and(|b| b & 0x0f == 8) {
                    Box::new(flate2::read::ZlibDecoder::new(&body[..]))
                } else {
                    Box::new(flate2::read::DeflateDecoder::new(&body[..]))
                }
            }
            "br" => Box::new(brotli_decompressor::Decompressor::new(&body[..], 4096)),
            other => return Err(IngestError::UnsupportedEncoding(other.to_string())),
        };
        let mut out = Vec::new();
        reader
            .take(cap as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| IngestError::Malformed {
                field: "body".into(),
                reason: format!("could not decode {c} content: {e}"),
            })?;
        if out.len() > cap {
            return Err(IngestError::TooLarge {
                limit: cap,
                what: "decoded request body",
            });
        }
        body = out;
    }
    Ok(body)
}
