package runtime

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gale-stream/gale/runtime/internal/acker"
	"github.com/gale-stream/gale/topology"
)

// ackerComponent names acker tasks in logs and metrics.
const ackerComponent topology.ComponentID = "__acker"

// ackerTask runs a ledger of tuple trees (see package acker) on its own
// goroutine, fed by its inbox's control queue, and tells spout tasks when
// their trees complete or fail.
type ackerTask struct {
	l       *Local
	task    topology.TaskID
	in      *inbox
	ledger  *acker.Ledger
	pending prometheus.Gauge
	out     map[topology.TaskID][]ctrlMsg
}

// ledgerKeep is how many rotations an untouched tree survives. The acker
// rotates every timeout/(keep-1), so a tree is dropped between one and
// one-and-a-half timeouts after its last message; by then its spout task
// has timed it out.
const ledgerKeep = 3

func (a *ackerTask) run() {
	rotate := time.NewTicker(max(a.l.cfg.MessageTimeout/(ledgerKeep-1), time.Millisecond))
	defer rotate.Stop()
	for {
		select {
		case <-a.in.acks.signal:
			a.process(a.in.acks.popAll())
		case <-rotate.C:
			a.ledger.Rotate()
			a.pending.Set(float64(a.ledger.Len()))
		case <-a.l.ackersStop:
			return
		}
	}
}

func (a *ackerTask) process(ms []ackMsg) {
	for _, m := range ms {
		var r acker.Result
		switch m.op {
		case opInit:
			r = a.ledger.Init(m.root, m.val, int32(m.spout))
		case opAck:
			r = a.ledger.Ack(m.root, m.val)
		case opFail:
			r = a.ledger.Fail(m.root)
		}
		switch r.Outcome {
		case acker.Completed:
			spout := topology.TaskID(r.Spout)
			a.out[spout] = append(a.out[spout], ctrlMsg{kind: ctrlTreeDone, root: m.root, ok: true})
		case acker.Failed:
			spout := topology.TaskID(r.Spout)
			a.out[spout] = append(a.out[spout], ctrlMsg{kind: ctrlTreeDone, root: m.root, ok: false})
		}
	}
	for task, ds := range a.out {
		if len(ds) > 0 {
			if in := a.l.inboxes[task]; in != nil {
				in.ctrl.push(ds...)
			} else {
				a.l.remote.sendDones(task, ds)
			}
			a.out[task] = ds[:0]
		}
	}
	a.pending.Set(float64(a.ledger.Len()))
}
