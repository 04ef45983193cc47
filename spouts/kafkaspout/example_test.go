package kafkaspout_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gale-stream/gale/bolts/kafkasink"
	"github.com/gale-stream/gale/spouts/kafkaspout"
	"github.com/gale-stream/gale/topology"
)

// A topology that reads JSON click events from Kafka with SASL, keys them
// by user, and writes them back to another topic, at least once.
func Example() {
	sec := &kafkaspout.Security{
		TLS: &kafkaspout.TLS{CAFile: "/etc/gale/kafka-ca.pem"},
		SASL: &kafkaspout.SASL{
			Mechanism:   kafkaspout.MechanismScramSHA512,
			Username:    "gale",
			PasswordEnv: "KAFKA_PASSWORD", // never a flag value
		},
	}
	b := topology.NewBuilder("clicks")
	b.SetConfig(topology.Config{Guarantee: topology.AtLeastOnce})
	b.SetSpout("clicks", kafkaspout.New(kafkaspout.Config{
		Brokers:      []string{"kafka-1:9093", "kafka-2:9093"},
		Topics:       []string{"clicks"},
		ValueDecoder: kafkaspout.JSON,
		OnFailure:    kafkaspout.DeadLetter, MaxRetries: 5, DeadLetterTopic: "clicks-dlq",
		Security: sec,
	}), 4).EventTime(kafkaspout.EventTime(5 * time.Second))
	b.SetBolt("by-user", topology.BasicFunc(func(_ context.Context, t topology.Tuple, out topology.BasicEmitter) error {
		click, _ := t.Value(1).(map[string]any)
		user, _ := click["user"].(string)
		out.Emit(topology.Values{user, t.Bytes("key")})
		return nil
	}).Factory(), 4).ShuffleFrom("clicks").Output("key", "value")
	b.SetBolt("out", kafkasink.New(kafkasink.Config{
		Brokers:  []string{"kafka-1:9093", "kafka-2:9093"},
		Topic:    "clicks-by-user",
		Security: sec,
	}), 2).FieldsFrom("by-user", "key").Tick(50 * time.Millisecond)
	topo, err := b.Build()
	if err != nil {
		log.Fatal(err)
	}
	clicks, _ := topo.Component("clicks")
	st, _ := clicks.Output(topology.DefaultStream)
	fmt.Println(st.Fields)
	// Output: [key value topic partition offset timestamp headers]
}
