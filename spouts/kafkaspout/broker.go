package kafkaspout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchapi "github.com/segmentio/kafka-go/protocol/fetch"
)

// fetcher is what the spout needs from the brokers. The kafka-go
// implementation is [clientFetcher]; unit tests of the bookkeeping use fakes.
// Methods may be called concurrently (one goroutine per partition fetches)
// and block until ctx ends or the broker answers.
type fetcher interface {
	// partitions lists the partitions of the topics named, or of every topic
	// matching pattern when topics is empty.
	partitions(ctx context.Context, topics []string, pattern *regexp.Regexp) ([]topicPartition, error)
	// fetch reads records of tp from offset on. Records below offset that
	// the broker returns as part of a batch are dropped, and so are control
	// records; fetchResult.next says where to fetch next.
	fetch(ctx context.Context, tp topicPartition, offset int64) (fetchResult, error)
	// listOffsets resolves a position for each partition: at is
	// kafka.FirstOffset, kafka.LastOffset or a Unix millisecond timestamp (for
	// which there may be no record: then the partition's end is returned).
	listOffsets(ctx context.Context, tps []topicPartition, at int64) (map[topicPartition]int64, error)
	// committed returns the group's committed offsets; partitions without a
	// commit are absent.
	committed(ctx context.Context, group string, tps []topicPartition) (map[topicPartition]int64, error)
	// commit commits offsets (each the next offset to read) for group.
	commit(ctx context.Context, group string, offsets map[topicPartition]int64) error
}

// fetchResult is one fetch's answer.
type fetchResult struct {
	records []*Record
	bytes   int
	// hwm is the partition's high watermark: the offset of the next record
	// to be produced.
	hwm int64
	// next is the offset to fetch next: after the last record returned, or
	// after control records (transaction markers) that follow it.
	next int64
	// err is the partition-level error the broker answered with, such as
	// kafka.OffsetOutOfRange.
	err error
}

// clientFetcher implements fetcher with a kafka-go Client.
type clientFetcher struct {
	cl        *kafka.Client
	rt        kafka.RoundTripper // cl's transport, for raw fetches
	addr      net.Addr
	isolation kafka.IsolationLevel
	maxBytes  int
	maxWait   time.Duration
	timeout   time.Duration
}

func (f *clientFetcher) partitions(ctx context.Context, topics []string, pattern *regexp.Regexp) ([]topicPartition, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	md, err := f.cl.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, err
	}
	var out []topicPartition
	for _, t := range md.Topics {
		if pattern != nil && !pattern.MatchString(t.Name) {
			continue
		}
		if t.Error != nil {
			if pattern != nil {
				continue
			}
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			out = append(out, topicPartition{t.Name, int32(p.ID)})
		}
	}
	return out, nil
}

func (f *clientFetcher) fetch(ctx context.Context, tp topicPartition, offset int64) (fetchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout+f.maxWait)
	defer cancel()
	// A raw fetch through the transport rather than Client.Fetch, which
	// hides the aborted transactions that read_committed filtering needs.
	m, err := f.rt.RoundTrip(ctx, f.addr, &fetchapi.Request{
		ReplicaID:      -1,
		MaxWaitTime:    int32(f.maxWait / time.Millisecond),
		MinBytes:       1,
		MaxBytes:       int32(f.maxBytes),
		IsolationLevel: int8(f.isolation),
		SessionID:      -1,
		SessionEpoch:   -1,
		Topics: []fetchapi.RequestTopic{{
			Topic: tp.Topic,
			Partitions: []fetchapi.RequestPartition{{
				Partition: tp.Partition, CurrentLeaderEpoch: -1, FetchOffset: offset,
				LogStartOffset: -1, PartitionMaxBytes: int32(f.maxBytes),
			}},
		}},
	})
	if err != nil {
		return fetchResult{}, fmt.Errorf("fetch: %w", err)
	}
	res, ok := m.(*fetchapi.Response)
	if !ok || len(res.Topics) == 0 || len(res.Topics[0].Partitions) == 0 {
		return fetchResult{}, fmt.Errorf("fetch: empty or unexpected response %T", m)
	}
	p := &res.Topics[0].Partitions[0]
	out := fetchResult{hwm: p.HighWatermark, next: offset}
	if res.ErrorCode != 0 {
		out.err = kafka.Error(res.ErrorCode)
		return out, nil
	}
	if p.ErrorCode != 0 {
		out.err = kafka.Error(p.ErrorCode)
		return out, nil
	}
	if p.RecordSet.Records == nil {
		return out, nil
	}
	// Read batch by batch, so that control batches (transaction markers,
	// which kafka-go's record stream hides) still move the position past
	// them; otherwise a partition ending in a marker would be fetched again
	// and again, and its lag and commit point would stay one short.
	batches := []kafka.RecordReader{p.RecordSet.Records}
	if rs, ok := p.RecordSet.Records.(*protocol.RecordStream); ok {
		batches = rs.Records
	}
	var slab recordSlab
	var ab abortFilter
	if f.isolation == kafka.ReadCommitted {
		ab.init(p.AbortedTransactions)
	}
	for _, b := range batches {
		skip := false
		switch batch := b.(type) {
		case *protocol.ControlBatch:
			skip = true
		case *protocol.RecordBatch:
			skip = ab.aborted(batch)
		}
		for {
			r, err := b.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if len(out.records) > 0 || out.next > offset {
					// Keep what was read; the rest is fetched again.
					return out, nil
				}
				return out, fmt.Errorf("read records: %w", err)
			}
			if cb, ok := b.(*protocol.ControlBatch); ok {
				ab.marker(cb, r)
			}
			if skip || r.Offset < offset {
				out.next = max(out.next, r.Offset+1)
				discard(r)
				continue
			}
			rec, n, err := copyRecord(slab.next(), tp, r)
			if err != nil {
				if len(out.records) > 0 || out.next > offset {
					return out, nil
				}
				return out, err
			}
			out.records = append(out.records, rec)
			out.bytes += n
			out.next = r.Offset + 1
		}
	}
	return out, nil
}

// abortFilter drops the records of aborted transactions, as Kafka's own
// consumer does with isolation.level=read_committed: the broker lists the
// aborted transactions (producer id, first offset) of the fetched range;
// a transactional batch of such a producer at or after that offset is
// aborted, until the producer's abort marker.
type abortFilter struct {
	pending []fetchapi.ResponseTransaction // by first offset
	active  map[int64]bool                 // producers inside an aborted transaction
}

func (a *abortFilter) init(txns []fetchapi.ResponseTransaction) {
	a.pending = slices.SortedFunc(slices.Values(txns), func(x, y fetchapi.ResponseTransaction) int {
		return cmp.Compare(x.FirstOffset, y.FirstOffset)
	})
	a.active = map[int64]bool{}
}

// aborted reports whether batch belongs to an aborted transaction.
func (a *abortFilter) aborted(b *protocol.RecordBatch) bool {
	if a.active == nil || !b.Attributes.Transactional() {
		return false
	}
	for len(a.pending) > 0 && a.pending[0].FirstOffset <= b.BaseOffset {
		a.active[a.pending[0].ProducerID] = true
		a.pending = a.pending[1:]
	}
	return a.active[b.ProducerID]
}

// marker ends an aborted transaction at its producer's abort marker.
func (a *abortFilter) marker(b *protocol.ControlBatch, r *kafka.Record) {
	if a.active == nil || !a.active[b.ProducerID] || r.Key == nil || r.Key.Len() != 4 {
		return
	}
	var k [4]byte
	if _, err := io.ReadFull(r.Key, k[:]); err != nil {
		return
	}
	if typ := int16(k[2])<<8 | int16(k[3]); typ == 0 { // 0 is ABORT, 1 COMMIT
		delete(a.active, b.ProducerID)
	}
}

func discard(r *kafka.Record) {
	if r.Key != nil {
		r.Key.Close()
	}
	if r.Value != nil {
		r.Value.Close()
	}
}

// recordSlab hands out Records from chunks, one allocation per 64 records.
// A chunk lives as long as any of its records is pending, which the
// MaxUncommitted bound keeps small.
type recordSlab struct{ chunk []Record }

func (s *recordSlab) next() *Record {
	if len(s.chunk) == cap(s.chunk) {
		s.chunk = make([]Record, 0, 64)
	}
	s.chunk = s.chunk[:len(s.chunk)+1]
	return &s.chunk[len(s.chunk)-1]
}

// copyRecord copies r into rec, out of the fetch buffer, which the next
// ReadRecord reuses. Key and value share one allocation.
func copyRecord(rec *Record, tp topicPartition, r *kafka.Record) (*Record, int, error) {
	*rec = Record{Topic: tp.Topic, Partition: tp.Partition, Offset: r.Offset, Time: r.Time}
	kn, vn := 0, 0
	if r.Key != nil {
		kn = r.Key.Len()
	}
	if r.Value != nil {
		vn = r.Value.Len()
	}
	buf := make([]byte, kn+vn)
	if r.Key != nil {
		if _, err := io.ReadFull(r.Key, buf[:kn]); err != nil {
			return nil, 0, fmt.Errorf("read key: %w", err)
		}
		rec.Key = buf[:kn:kn]
	}
	if r.Value != nil {
		if _, err := io.ReadFull(r.Value, buf[kn:]); err != nil {
			return nil, 0, fmt.Errorf("read value: %w", err)
		}
		rec.Value = buf[kn:]
	}
	n := kn + vn
	if len(r.Headers) > 0 {
		rec.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			rec.Headers[i] = Header{Key: h.Key, Value: append([]byte(nil), h.Value...)}
			n += len(h.Key) + len(h.Value)
		}
	}
	return rec, n, nil
}

func (f *clientFetcher) listOffsets(ctx context.Context, tps []topicPartition, at int64) (map[topicPartition]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}, IsolationLevel: f.isolation}
	for _, tp := range tps {
		req.Topics[tp.Topic] = append(req.Topics[tp.Topic], kafka.OffsetRequest{Partition: int(tp.Partition), Timestamp: at})
	}
	res, err := f.cl.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make(map[topicPartition]int64, len(tps))
	var missing []topicPartition
	for topic, ps := range res.Topics {
		for _, p := range ps {
			tp := topicPartition{topic, int32(p.Partition)}
			if p.Error != nil {
				return nil, fmt.Errorf("list offsets of %s: %w", tp, p.Error)
			}
			switch at {
			case kafka.FirstOffset:
				out[tp] = p.FirstOffset
			case kafka.LastOffset:
				out[tp] = p.LastOffset
			default:
				off := int64(-1)
				for o := range p.Offsets {
					off = o
				}
				if off < 0 {
					missing = append(missing, tp)
					continue
				}
				out[tp] = off
			}
		}
	}
	for _, tp := range tps {
		if _, ok := out[tp]; !ok && at < 0 {
			return nil, fmt.Errorf("list offsets: no answer for %s", tp)
		}
	}
	if len(missing) > 0 {
		// No record at or after the timestamp: start at the end.
		end, err := f.listOffsets(ctx, missing, kafka.LastOffset)
		if err != nil {
			return nil, err
		}
		for tp, o := range end {
			out[tp] = o
		}
	}
	return out, nil
}

func (f *clientFetcher) committed(ctx context.Context, group string, tps []topicPartition) (map[topicPartition]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req := &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{}}
	for _, tp := range tps {
		req.Topics[tp.Topic] = append(req.Topics[tp.Topic], int(tp.Partition))
	}
	res, err := f.cl.OffsetFetch(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make(map[topicPartition]int64)
	if res.Error != nil {
		if errors.Is(res.Error, kafka.GroupIdNotFound) {
			return out, nil
		}
		return nil, res.Error
	}
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("committed offset of %s/%d: %w", topic, p.Partition, p.Error)
			}
			if p.CommittedOffset >= 0 {
				out[topicPartition{topic, int32(p.Partition)}] = p.CommittedOffset
			}
		}
	}
	return out, nil
}

func (f *clientFetcher) commit(ctx context.Context, group string, offsets map[topicPartition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req := &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
	for tp, off := range offsets {
		req.Topics[tp.Topic] = append(req.Topics[tp.Topic], kafka.OffsetCommit{Partition: int(tp.Partition), Offset: off})
	}
	res, err := f.cl.OffsetCommit(ctx, req)
	if err != nil {
		return err
	}
	var errs []error
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				errs = append(errs, fmt.Errorf("commit %s/%d: %w", topic, p.Partition, p.Error))
			}
		}
	}
	return errors.Join(errs...)
}
