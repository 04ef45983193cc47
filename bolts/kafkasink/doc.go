// Package kafkasink is gale's Kafka sink bolt: it produces tuples to a topic
// with github.com/segmentio/kafka-go.
//
// # Use
//
//	b.SetBolt("out", kafkasink.New(kafkasink.Config{
//		Brokers: []string{"kafka:9092"},
//		Topic:   "counts",
//	}), 2).FieldsFrom("count", "key").Tick(50 * time.Millisecond)
//
// Each tuple becomes one record: key, value and headers come from the
// fields "key", "value" and "headers" (see [Config] to rename them), or from
// [Config.Map]. Records with equal keys go to the same partition
// (kafka.Murmur2Balancer, as the Java client), in the order the sink task
// received them; use a fields grouping on the key so that one task sees
// all tuples of a key.
//
// # Batches and acknowledgements
//
// The sink buffers tuples and writes them in one synchronous batch when
// [Config.BatchSize] tuples or [Config.BatchBytes] bytes are buffered, when
// the oldest waited [Config.Linger], on a tick tuple, and on Cleanup. The
// write waits for the acknowledgement of all in-sync replicas
// (RequiredAcks all, by default). Only then are the batch's tuples acked;
// if the write fails, they are failed, and the spout replays them
// (at-least-once). Give the component a tick so an idle sink still writes
// what it holds. In exactly-once topologies the sink flushes in
// [Sink.Snapshot] (it implements [topology.Checkpointer]), before the task
// acknowledges a checkpoint barrier, so every output of the inputs a
// checkpoint covers is in Kafka before the checkpoint completes; a failed
// write fails the checkpoint. [Sink.Flush] does the same for other callers.
//
// # What the sink cannot promise
//
// kafka-go has neither an idempotent nor a transactional producer. So:
//
//   - A write that timed out may still have been stored: its retry (by
//     kafka-go, up to [Config.MaxAttempts]) or the replay of its tuples
//     writes the records again.
//   - With at-least-once, replayed tuples produce their records again.
//   - With exactly-once, gale's state is exactly-once, but the sink's output
//     is not transactional: after a failure the topology restores the last
//     checkpoint and replays from there, and outputs written after that
//     checkpoint are written a second time. Consumers never see
//     uncommitted output disappear, but they can see duplicates.
//
// In every case a record is written at least once, never lost once its
// tuple was acked, and duplicates are identical if the topology is
// deterministic. Consumers deduplicate with a deterministic identity per
// output: either a key that identifies the result (for example "window
// start + key" for windowed counts, so a compacted topic or an upsert keeps
// the last value), or a header set by [Config.ID] (the "gale-id" header by
// default) derived from the input, such as the source topic, partition and
// offset, which the consumer remembers for a bounded horizon.
//
// # Metrics
//
// With [Config.Registerer] set, labelled by topology and component:
// gale_kafka_producer_records_total, _bytes_total,
// _failed_records_total, _encode_errors_total,
// gale_kafka_producer_write_duration_seconds and
// gale_kafka_producer_batch_records.
package kafkasink
