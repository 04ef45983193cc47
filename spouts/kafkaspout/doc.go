// Package kafkaspout is gale's Kafka spout, built on
// github.com/segmentio/kafka-go.
//
// # Use
//
//	b.SetSpout("clicks", kafkaspout.New(kafkaspout.Config{
//		Brokers: []string{"kafka:9092"},
//		Topics:  []string{"clicks"},
//		ValueDecoder: kafkaspout.JSON,
//	}), 4)
//
// The spout emits one tuple per record on the default stream, with
// [DefaultFields] (key, value, topic, partition, offset, timestamp, headers),
// or the fields of [Config.Map]. The record timestamp (Unix milliseconds, in
// [EventTimeField]) is the tuple's event time; declare it with
// .EventTime(kafkaspout.EventTime(outOfOrderness)) on the spout.
//
// # Partitions and the consumer group
//
// The spout does not use Kafka's group membership. Each task lists the
// partitions of its topics (a fixed list, or every topic matching
// [Config.TopicPattern]) every [Config.MetadataInterval], sorts them by
// (topic, partition), and owns the i-th when i mod parallelism is its
// index. So each partition has exactly one owner, tasks differ by at most
// one partition, and the mapping follows changes of parallelism and of
// partition counts without a rebalance protocol. Each owned partition is
// fetched by its own goroutine with its own position (Fetch requests through
// a kafka-go Transport, which routes them to the partition leader); the
// task's goroutine takes fetched batches in Next. kafka-go serves metadata
// from a cache it refreshes every [TransportMetadataTTL], which bounds how
// long a moved leader or a new partition goes unnoticed.
//
// Transaction markers are never emitted, but the position moves past them,
// so commits and lag reach the high watermark of transactional topics. With
// [Config.ReadCommitted], records of aborted transactions are dropped as
// Kafka's own consumer drops them.
//
// Offsets are committed under a consumer group id ([Config.Group], default
// "gale-<topology>") with OffsetCommit requests, so kafka-consumer-groups,
// Burrow and exporters show the topology's lag. The spout never joins the
// group, so those tools list it with no members.
//
// # Delivery guarantees
//
// The topology's guarantee decides how offsets are committed:
//
//   - At-least-once: tuples carry a [MessageID]. Per partition an offset
//     tracker keeps the emitted records that are not yet committable; the
//     commit point is the lowest offset not yet acked (committing N commits
//     everything below N, so nothing above an un-acked record is ever
//     committed). Commit points are committed every [Config.CommitInterval]
//     and on Close. A failed tuple is replayed after an exponential backoff;
//     after [Config.MaxRetries] failures [Config.OnFailure] may skip it or
//     produce it to a dead-letter topic. A partition with
//     [Config.MaxUncommitted] records pending stops emitting, and its fetch
//     goroutine blocks, which pauses fetching.
//   - Exactly-once: the spout implements [topology.Checkpointer]. Its
//     positions are part of each checkpoint, a restore seeks to them, and
//     they are committed to the group only when the checkpoint completes.
//   - At-most-once: each fetched batch's end is committed before any of its
//     records is emitted.
//
// # Failures
//
// Broker errors (unreachable broker, leader moves, timeouts) are retried with
// exponential backoff between [Config.RetryBackoff] and
// [Config.MaxRetryBackoff], counted in gale_kafka_consumer_fetch_errors_total,
// and logged once when a partition starts failing and once when it recovers.
// The position of a partition only moves past records handed to the task,
// so a retry never skips or repeats a record. A position deleted by
// retention restarts at [Config.Fallback].
//
// kafka-go reports a rejected SASL password only as "unexpected EOF"; the
// spout reports it as [ErrAuthentication] ("authentication failed?"), and
// Open fails at once instead of retrying.
//
// # Tests
//
// The tests run against kfake, an in-process Kafka-protocol broker (see
// internal/kafkatest); spouts/kafkaspout/e2e runs the spout and the sink in
// topologies on the in-process runtime, including an exactly-once restart.
//
// # Metrics
//
// With [Config.Registerer] set, labelled by topology, topic and partition:
// gale_kafka_consumer_lag (high watermark minus the next offset to emit),
// gale_kafka_consumer_committed_lag, gale_kafka_consumer_lag_seconds (age of
// the oldest record fetched but not yet fully processed),
// gale_kafka_consumer_fetched_records_total and _bytes_total,
// gale_kafka_consumer_fetch_errors_total, gale_kafka_consumer_retries_total,
// gale_kafka_consumer_given_up_records_total{policy}, and per topology
// gale_kafka_consumer_commit_duration_seconds and
// gale_kafka_consumer_commit_errors_total. A partition's series exist (at 0)
// from the moment it is assigned; high watermarks are listed every
// [Config.LagInterval], so lag stays current while nothing arrives.
package kafkaspout
