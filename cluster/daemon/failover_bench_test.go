package daemon_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkFailover measures the time from the SIGKILL of a node that runs
// a worker of the exactly-once Kafka word count to the first record the
// topology writes again, with input arriving all along, on three nodes with
// the loopback gossip timings (GALE_LOCAL_GOSSIP). Each iteration kills the
// node of worker 0 and, untimed, starts a replacement node, so every kill
// finds three nodes. It reports:
//
//   - s/failover: SIGKILL to the first output record after it;
//   - s/detect: SIGKILL until a survivor's memberlist declares the node
//     dead (failure detection: probes, suspicion, its timeout);
//   - s/place: from then until the worker's process runs on a survivor
//     (the coordinator's new assignment, gossip, the worker's start);
//   - s/resume: from then until the first output record (restore of the
//     last checkpoint, the spout's rewind, the sink's first write);
//   - detect-fraction: s/detect over s/failover.
//
// Run it with:
//
//	go test -run '^$' -bench Failover -benchtime 5x ./cluster/daemon/
func BenchmarkFailover(b *testing.B) {
	c := startKafkaCount(b, 3)
	c.mustProduce(2000)
	c.submit(eoWorkers)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() {
		for ctx.Err() == nil {
			// Input arrives all along: 50 words every 10ms.
			if err := c.produce(ctx, 50); err != nil && ctx.Err() == nil {
				b.Errorf("produce: %v", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	})

	var total, detect, place, resume time.Duration
	kills := 0
	for b.Loop() {
		ws := c.waitStable()
		c.waitReplicated()
		// A checkpoint completes under this placement before the kill.
		base, err := c.committed(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		// (90s: longer than the minute after which the runtime abandons a
		// stuck checkpoint; the benchmark measures failover, not that.)
		c.waitCommitted(90*time.Second, base+1, "a checkpoint completed before the kill")

		victim := nodeByID(b, c.nodes, ws[0].Node)
		var survivor = c.running()[0]
		if survivor == victim {
			survivor = c.running()[1]
		}
		killed := time.Now()
		c.killNode(victim, ws)
		// A write the dead worker had sent may still land; take the
		// baseline after it would have.
		time.Sleep(200 * time.Millisecond)
		out, err := c.outputSum(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		var dead, running, resumed time.Duration
		waitFor(b, 60*time.Second, "output resumed after the kill", func() bool {
			if dead == 0 && memberState(survivor, victim.id) == "dead" {
				dead = time.Since(killed)
			}
			if running == 0 {
				if ws, ok := c.placement(); ok && placedAndRunning(ws, eoWorkers, victim.id) {
					running = time.Since(killed)
				}
			}
			if resumed == 0 {
				if n, err := c.outputSum(context.Background()); err == nil && n > out {
					resumed = time.Since(killed)
				}
			}
			return dead > 0 && running > 0 && resumed > 0
		})
		// Events seen in the same poll keep their order.
		running, resumed = max(running, dead), max(resumed, running, dead)
		total += resumed
		detect += dead
		place += running - dead
		resume += resumed - running
		kills++
		b.Logf("kill %d of node %s: dead after %v, worker running after %v, output after %v",
			kills, victim.id, dead.Round(time.Millisecond), running.Round(time.Millisecond), resumed.Round(time.Millisecond))

		// Outside the figures: three nodes again, and the assignment that
		// the join brings published everywhere, so that the next kill does
		// not race with a worker moving to the new node.
		epoch := c.epoch()
		c.addNode(fmt.Sprintf("n%d", len(c.nodes)+1))
		waitFor(b, 30*time.Second, "the assignment after the join", func() bool { return c.epoch() > epoch })
	}
	stop()
	wg.Wait()
	if kills == 0 {
		return
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(kills) }
	b.ReportMetric(per(total), "s/failover")
	b.ReportMetric(per(detect), "s/detect")
	b.ReportMetric(per(place), "s/place")
	b.ReportMetric(per(resume), "s/resume")
	b.ReportMetric(detect.Seconds()/total.Seconds(), "detect-fraction")
	// ns/op would include the replacement nodes' start: drop it.
	b.ReportMetric(0, "ns/op")
}

// epoch returns the assignment epoch every running node reports, or 0 while
// they differ.
func (c *kcCluster) epoch() uint64 {
	var epoch uint64
	for _, n := range c.running() {
		ms, err := newClient(n, token).Members(context.Background())
		if err != nil || (epoch != 0 && ms.Epoch != epoch) {
			return 0
		}
		epoch = ms.Epoch
	}
	return epoch
}

// waitStable waits until the topology's workers all run and the same
// processes still run a second later: a placement that is not moving.
func (c *kcCluster) waitStable() map[int]kcWorker {
	c.tb.Helper()
	var ws map[int]kcWorker
	waitFor(c.tb, 60*time.Second, "a stable placement", func() bool {
		ws = c.waitWorkers(60*time.Second, eoWorkers)
		time.Sleep(time.Second)
		now, ok := c.placement()
		if !ok || !placedAndRunning(now, eoWorkers) {
			return false
		}
		for i, w := range ws {
			if now[i].Node != w.Node || now[i].PID != w.PID {
				return false
			}
		}
		return true
	})
	return ws
}
