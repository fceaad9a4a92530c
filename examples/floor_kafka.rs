//! Log floor of the load harness (`scripts/load`): raw rdkafka produce of the same records
//! Sightline's Kafka log writes (protobuf `Record`s of generated 50-event batches, keyed by
//! site/session, the same producer settings: acks=all, idempotence, lz4, linger 20 ms), to a
//! topic of its own on the same broker, `concurrency` batches in flight, each awaited whole
//! (as ingest awaits a batch before its `202`). No HTTP, no validation, no id index.
//!
//!     cargo run --release --example floor_kafka -- BROKERS TOPIC SECONDS CONCURRENCY
//!
//! Prints one JSON line: `{"events": n, "seconds": s, "events_per_s": r}`.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sightline::loadgen::{accept, TrafficGen};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    anyhow::ensure!(a.len() == 5, "usage: floor_kafka BROKERS TOPIC SECONDS CONCURRENCY");
    let (brokers, topic) = (a[1].clone(), a[2].clone());
    let secs: f64 = a[3].parse()?;
    let conc: usize = a[4].parse()?;
    // The topic, with Sightline's default partition count (6), as Sightline creates its own.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", &brokers).create()?;
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 6, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await?;
    for r in created {
        if let Err((t, e)) = r {
            anyhow::ensure!(
                e == rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                "creating topic {t}: {e}"
            );
        }
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("linger.ms", "20")
        .set("message.timeout.ms", "10000")
        .create()?;
    // 64 distinct batches, encoded once (ids need not be fresh: the broker does not dedup).
    let now = chrono::Utc::now().timestamp_millis();
    let mut gen = TrafficGen::new(11);
    let batches: Arc<Vec<Vec<(String, Vec<u8>)>>> = Arc::new(
        (0..64u32)
            .map(|k| {
                accept(&gen.batch("sl_floor", &format!("{k:08x}"), k, 50, now), now)
                    .iter()
                    .map(|e| (format!("{}/{}", e.site, e.session_id), e.encode()))
                    .collect()
            })
            .collect(),
    );
    // Warm up: metadata and the idempotent producer id.
    let b = &batches[0][0];
    producer
        .send(
            FutureRecord::to(&topic).key(&b.0).payload(&b.1),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (producer, batches, topic) = (producer.clone(), batches.clone(), topic.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            let mut k = w;
            while Instant::now() < deadline {
                let batch = &batches[k % batches.len()];
                // Queue the whole batch, then await every delivery report.
                let mut pending = Vec::with_capacity(batch.len());
                for (key, payload) in batch {
                    let rec = FutureRecord::to(&topic).key(key).payload(payload);
                    pending.push(producer.send_result(rec).map_err(|(e, _)| e)?);
                }
                for d in pending {
                    d.await?.map_err(|(e, _)| e)?;
                    sent += 1;
                }
                k += conc;
            }
            anyhow::Ok(sent)
        }));
    }
    let mut events = 0;
    for t in tasks {
        events += t.await??;
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"events": events, "seconds": s, "events_per_s": events as f64 / s})
    );
    Ok(())
}
