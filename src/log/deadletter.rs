//! Dead letters' contents: a `sink` letter's event record, and a refused body's sample.
//! Listing and replay are [`crate::deadletters`].

use crate::event::Event;

/// `raw` of a `sink` letter: the event's log record, so a replay restores it exactly.
pub fn encode_event(ev: &Event) -> String {
    format!("proto:{}", hex::encode(ev.encode()))
}

/// The event in a `sink` letter's `raw`, if it holds one.
pub fn decode_event(raw: &str) -> Option<Event> {
    let bytes = hex::decode(raw.strip_prefix("proto:")?).ok()?;
    Event::decode(&bytes).ok()
}

/// The first bytes of a refused request body as a sample to keep: a gzip body (refused
/// while or before decoding: too large decoded, corrupt, an unsupported outer coding) is
/// decoded as far as it goes, up to `max` bytes; any other body is returned as it is.
pub fn decoded_sample(bytes: &[u8], max: usize) -> std::borrow::Cow<'_, [u8]> {
    use std::io::Read;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return bytes.into();
    }
    let mut reader = flate2::read::MultiGzDecoder::new(bytes).take(max as u64);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    // Keep what decoded before an error: a cut or corrupt stream still yields its start.
    while let Ok(n @ 1..) = reader.read(&mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    if out.is_empty() {
        bytes.into()
    } else {
        out.into()
    }
}

/// A sample as text: `Ok` when it is UTF-8 (a character cut at the sample's end dropped),
/// else `Err` with the bytes marked binary, `base64:<standard base64>`, so the store never
/// holds mojibake.
pub fn sample_text(bytes: &[u8]) -> Result<&str, String> {
    use base64::Engine;
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) if e.error_len().is_none() => Ok(std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid prefix")),
        Err(_) => Err(format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )),
    }
}
