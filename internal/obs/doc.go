// Package obs serves what Prometheus needs from a gale process: the
// /metrics page of a registry, and a Prometheus HTTP service-discovery
// endpoint listing the metrics addresses of the workers the process knows,
// so that one http_sd_configs entry in prometheus.yml finds a whole cluster.
//
// # Endpoints
//
// [NewHandler] returns one handler with two routes:
//
//	/metrics        the text exposition of a prometheus.Gatherer (promhttp)
//	/prometheus/sd  the http_sd JSON of the targets a callback lists
//
// The discovery document is the format of Prometheus' http_sd_configs:
//
//	[{"targets": ["10.0.0.7:9464"],
//	  "labels": {"__meta_gale_node": "node-1", "__meta_gale_topology": "clicks",
//	             "__meta_gale_worker": "2"}}]
//
// Targets that share all their labels are grouped into one entry, and the
// list is sorted, so the document is stable from one request to the next.
//
// # Why the labels are __meta_ labels
//
// Every gale metric already carries a topology label. A target label named
// "topology" would collide with it: Prometheus renames the scraped label to
// exported_topology (or, with honor_labels, silently keeps one of the two).
// So discovery labels are __meta_gale_*: they are available to relabeling
// (deploy/prometheus/prometheus.yml copies the node into a "node" label) and
// are dropped after it.
//
// # Usage
//
//	reg := prometheus.NewRegistry()
//	srv, err := obs.ListenSelf("127.0.0.1:9464", reg, "", "wordcount", logger)
//	...
//	defer srv.Shutdown(ctx)
//
// and a node that lists its workers:
//
//	srv, err := obs.Listen(addr, obs.NewHandler(reg, node.MetricsTargets), logger)
//
// A cluster node passes a callback that lists its workers' metrics
// addresses; `gale dev` and the examples list themselves with [Self].
package obs
