package kafkaspout

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/gale-stream/gale/internal/kafkatest"
	"github.com/gale-stream/gale/topology"
)

const (
	benchTopic      = "ingest"
	benchPartitions = 4
	benchRecords    = 1_000_000 // in total, over the partitions
	benchValueSize  = 100
)

var bench struct {
	once sync.Once
	c    *kafkatest.Cluster
	err  error
}

// benchCluster returns a broker holding the benchmark's records, producing
// them once per test binary run; TestMain closes it.
func benchCluster(b *testing.B) *kafkatest.Cluster {
	b.Helper()
	bench.once.Do(func() {
		c, err := kafkatest.NewCluster(kafkatest.Config{Topics: map[string]int32{benchTopic: benchPartitions}})
		if err != nil {
			bench.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		bench.err = c.ProduceN(ctx, benchTopic, benchPartitions, benchRecords/benchPartitions, benchValueSize)
		bench.c = c
		b.Logf("produced %d records of %d bytes in %v", benchRecords, benchValueSize, time.Since(start))
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.c
}

// cpuTime is the user and system CPU time the process used, in ns. On a
// machine shared with other work, CPU per record compares runs more fairly
// than records per second. It includes the in-process broker's work, the
// same for both sub-benchmarks.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func closeBenchCluster() {
	if bench.c != nil {
		bench.c.Close()
	}
}

// BenchmarkKafkaIngest drains a 4-partition topic of 1,000,000 records of
// 100 bytes per iteration: with plain kafka-go Readers (one per partition,
// concurrently), and through one spout task whose tuples the benchmark acks
// as they are emitted (at-least-once bookkeeping and commits included).
// Run it with -benchtime=1x (or 3x) since one iteration reads everything.
// Besides records/s it reports the process's CPU time per record.
func BenchmarkKafkaIngest(b *testing.B) {
	c := benchCluster(b)

	b.Run("kafka-go-baseline", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuTime()
		n := 0
		for b.Loop() {
			var wg sync.WaitGroup
			errs := make([]error, benchPartitions)
			for p := range benchPartitions {
				wg.Go(func() {
					r := kafka.NewReader(kafka.ReaderConfig{
						Brokers: c.Addrs(), Topic: benchTopic, Partition: p,
						MinBytes: 1, MaxBytes: DefaultFetchMaxBytes, MaxWait: DefaultFetchMaxWait,
					})
					defer r.Close()
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					for range benchRecords / benchPartitions {
						if _, err := r.FetchMessage(ctx); err != nil {
							errs[p] = err
							return
						}
					}
				})
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
			n += benchRecords
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/record")
	})

	b.Run("spout", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuTime()
		n, iter := 0, 0
		for b.Loop() {
			iter++
			cfg := Config{Brokers: c.Addrs(), Topics: []string{benchTopic}, Start: Earliest, Group: fmt.Sprintf("bench-%d", iter)}
			s := New(cfg)().(*Spout)
			if err := s.Open(context.Background(), testContext("bench", 0, 1, topology.AtLeastOnce, 1000)); err != nil {
				b.Fatal(err)
			}
			var r recorder
			got := 0
			deadline := time.Now().Add(2 * time.Minute)
			for got < benchRecords {
				if err := s.Next(context.Background(), &r); err != nil {
					b.Fatal(err)
				}
				if len(r.tuples) == 0 {
					if time.Now().After(deadline) {
						b.Fatalf("got %d of %d records", got, benchRecords)
					}
					time.Sleep(50 * time.Microsecond)
					continue
				}
				for i := range r.tuples {
					s.Ack(r.tuples[i].id)
				}
				got += len(r.tuples)
				clear(r.tuples)
				r.tuples = r.tuples[:0]
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			n += got
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/record")
	})
}
