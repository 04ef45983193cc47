// Package kafkatest runs an in-process Kafka-protocol broker
// (github.com/twmb/franz-go/pkg/kfake) on loopback for tests, benchmarks and
// `gale dev`, with helpers that talk to it through an independent client
// (franz-go), so a test of gale's kafka-go based code checks its results
// against a second implementation of the protocol.
//
// # Usage
//
//	c := kafkatest.Start(t, kafkatest.Config{Topics: map[string]int32{"clicks": 4}})
//	c.Produce(ctx, kafkatest.Record{Topic: "clicks", Partition: 0, Value: []byte("x")})
//	hw, _ := c.HighWatermarks(ctx, "clicks")
//	committed, _ := c.Committed(ctx, "gale-mytopo", "clicks")
//
// [Start] stops the broker when the test ends. [NewCluster] is the same
// without a testing.TB, for programs; call [Cluster.Close] yourself.
//
// # Restarts
//
// With [Config.DataDir] set, the broker persists its log and committed
// offsets; [Cluster.Down] closes it (clients see connection errors) and
// [Cluster.Up] starts it again on the same ports with the same data, which is
// how tests simulate a broker outage.
//
// # SASL
//
// A non-empty [Config.Users] enables SASL on the broker; every user is a
// superuser. The helpers authenticate as the first user.
package kafkatest
