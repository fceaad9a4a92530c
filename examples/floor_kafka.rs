//! Log floor of the load harness (`scripts/load`): raw rdkafka produce of the same records
//! Sightline's Kafka log writes (protobuf `Record`s of generated 50-event batches, keyed by
//! site/session, the same producer settings: acks=all, idempotence, lz4, linger 20 ms), to a
//! topic of its own on the same broker, `concurrency` batches in flight, each awaited whole
//! (as ingest awaits a batch before its `202`). No HTTP, no validation, no id index.
//!
//!     cargo run --release --example floor_kafka -- BROKERS TOPIC SECONDS CONCURRENCY
//!
//! Prints one JSON line: `{"events": n, "seconds": s, "events_per_s": r}`.
//!
//! Consume floor (the sink phase of `scripts/load`): a raw rdkafka consumer reading every
//! record of TOPIC (all partitions assigned from the beginning, no group join, default fetch
//! settings as Sightline's sink consumer), touching each payload, nothing decoded:
//!
//!     cargo run --release --example floor_kafka -- consume BROKERS TOPIC
//!
//! Prints `{"events": n, "bytes": b, "seconds": s, "events_per_s": r}`, timed from the first
//! record received to the last.

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
    if a.len() == 4 && a[1] == "consume" {
        let (brokers, topic) = (a[2].clone(), a[3].clone());
        let r = tokio::task::spawn_blocking(move || consume_all(&brokers, &topic)).await??;
        println!("{r}");
        return Ok(());
    }
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

/// Read every record of `topic` once (see the module docs): the consume floor as JSON.
fn consume_all(brokers: &str, topic: &str) -> anyhow::Result<serde_json::Value> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("floor-consume-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let parts: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    anyhow::ensure!(!parts.is_empty(), "topic {topic} has no partitions");
    let mut total = 0i64;
    let mut tpl = TopicPartitionList::new();
    for p in &parts {
        let (lo, hi) = c.fetch_watermarks(topic, *p, Duration::from_secs(10))?;
        total += hi - lo;
        tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let (mut n, mut bytes) = (0i64, 0u64);
    let mut first = None;
    let give_up = Instant::now() + Duration::from_secs(600);
    while n < total && Instant::now() < give_up {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                bytes += m.payload().map_or(0, |p| std::hint::black_box(p).len() as u64);
                n += 1;
            }
            Some(Err(e)) => anyhow::bail!("consume: {e}"),
            None => {}
        }
    }
    anyhow::ensure!(n == total, "read {n} of {total} records of {topic}");
    let s = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    Ok(
        serde_json::json!({"events": n, "bytes": bytes, "seconds": s, "events_per_s": if s > 0.0 { n as f64 / s } else { 0.0 }}),
    )
}
