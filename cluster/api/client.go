package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Client talks to a node's API. The zero HTTP field means
// http.DefaultClient.
type Client struct {
	// BaseURL is the node's API, for example http://127.0.0.1:7070. A bare
	// host:port gets http:// in front.
	BaseURL string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP is the client used. Default: http.DefaultClient.
	HTTP *http.Client
}

// SubmitOptions are the parameters of [Client.Submit].
type SubmitOptions struct {
	// Name overrides the topology's own name.
	Name string
	// Workers overrides the topology's number of workers.
	Workers int
	// Signature is an ed25519 signature of the binary's sha256, for nodes
	// that trust a key.
	Signature []byte
	// SHA256 is sent as X-Gale-Sha256; when nil, Submit computes it from
	// the file.
	SHA256 *[32]byte
	// Config is a JSON object of topology.SpecConfig fields overriding the
	// binary's configuration, or empty.
	Config string
}

// FileSHA256 hashes a file.
func FileSHA256(path string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// Submit uploads the topology binary at path.
func (c *Client) Submit(ctx context.Context, path string, opts SubmitOptions) (*Topology, error) {
	sum := opts.SHA256
	if sum == nil {
		s, err := FileSHA256(path)
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		sum = &s
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	defer f.Close()
	q := url.Values{}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	if opts.Workers > 0 {
		q.Set("workers", strconv.Itoa(opts.Workers))
	}
	if opts.Config != "" {
		q.Set("config", opts.Config)
	}
	hdr := http.Header{}
	hdr.Set(HeaderSHA256, hex.EncodeToString(sum[:]))
	if len(opts.Signature) > 0 {
		hdr.Set(HeaderSignature, base64.StdEncoding.EncodeToString(opts.Signature))
	}
	hdr.Set("Content-Type", "application/octet-stream")
	// Ask before sending the body: a node that refuses the request (wrong
	// token, name taken) answers without reading the whole binary, and the
	// client sees the answer instead of a connection reset.
	hdr.Set("Expect", "100-continue")
	var out Topology
	if err := c.do(ctx, http.MethodPost, "/v1/topologies?"+q.Encode(), hdr, f, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns the submitted topologies.
func (c *Client) List(ctx context.Context) ([]Topology, error) {
	var out []Topology
	return out, c.do(ctx, http.MethodGet, "/v1/topologies", nil, nil, &out)
}

// Status returns the status of a topology; an unknown one is ErrNotFound.
func (c *Client) Status(ctx context.Context, name string) (*Status, error) {
	return c.status(ctx, name, false)
}

// StatusWithStats is Status with every worker's figures (tuple totals and
// rates per component) read from the workers' /metrics. It takes about a
// second longer the first time a worker is asked for.
func (c *Client) StatusWithStats(ctx context.Context, name string) (*Status, error) {
	return c.status(ctx, name, true)
}

func (c *Client) status(ctx context.Context, name string, stats bool) (*Status, error) {
	p := "/v1/topologies/" + url.PathEscape(name)
	if stats {
		p += "?stats=1"
	}
	var out Status
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Kill kills a topology.
func (c *Client) Kill(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/topologies/"+url.PathEscape(name), nil, nil, nil)
}

// Rebalance changes a topology's number of workers (0 keeps it and only
// recomputes its placement).
func (c *Client) Rebalance(ctx context.Context, name string, workers int) (*Topology, error) {
	return c.RebalanceWith(ctx, name, RebalanceOptions{Workers: workers})
}

// RebalanceOptions says how to rebalance a topology; zero fields leave
// things as they are.
type RebalanceOptions struct {
	// Workers is the new number of workers.
	Workers int
	// Parallelism sets the parallelism of components, by name, up to the
	// topology's max parallelism.
	Parallelism map[string]int
}

// RebalanceWith changes a topology's number of workers and the parallelism
// of its components, and places it again.
func (c *Client) RebalanceWith(ctx context.Context, name string, o RebalanceOptions) (*Topology, error) {
	q := url.Values{}
	if o.Workers > 0 {
		q.Set("workers", strconv.Itoa(o.Workers))
	}
	for _, comp := range slices.Sorted(maps.Keys(o.Parallelism)) {
		q.Add("parallelism", comp+"="+strconv.Itoa(o.Parallelism[comp]))
	}
	p := "/v1/topologies/" + url.PathEscape(name) + "/rebalance"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out Topology
	if err := c.do(ctx, http.MethodPost, p, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Members returns the cluster membership as the node sees it.
func (c *Client) Members(ctx context.Context) (*Members, error) {
	var out Members
	if err := c.do(ctx, http.MethodGet, "/v1/members", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Workers returns the node's worker processes.
func (c *Client) Workers(ctx context.Context) ([]WorkerInfo, error) {
	return c.workers(ctx, false)
}

func (c *Client) workers(ctx context.Context, stats bool) ([]WorkerInfo, error) {
	p := "/v1/workers"
	if stats {
		p += "?stats=1"
	}
	var out []WorkerInfo
	return out, c.do(ctx, http.MethodGet, p, nil, nil, &out)
}

func (c *Client) base() string {
	b := strings.TrimRight(c.BaseURL, "/")
	if !strings.Contains(b, "://") {
		b = "http://" + b
	}
	return b
}

func (c *Client) do(ctx context.Context, method, path string, hdr http.Header, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base()+path, body)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if f, ok := body.(*os.File); ok {
		if fi, err := f.Stat(); err == nil {
			req.ContentLength = fi.Size()
		}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, c.base(), unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb errorBody
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		if msg == "" {
			msg = resp.Status
		}
		return &Error{Status: resp.StatusCode, Message: msg}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: %s %s: bad response: %w", method, path, err)
	}
	return nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
