// Package deploy_test checks the files under deploy/ against the code: the
// Grafana dashboards and provisioning files in deploy/grafana, and the
// Prometheus scrape configuration and alerting rules in deploy/prometheus.
//
// The main test, TestDashboardQueriesOnPrometheus, runs real topologies in
// this process (a sentence generator word count with a flaky bolt, and a
// Kafka spout → Kafka sink pipeline on an in-process Kafka-protocol broker),
// a real cluster node, a worker supervisor with a crashing worker, a
// transport link to a dead peer and a state store taking checkpoints,
// serves their /metrics and
// the service-discovery endpoint with internal/obs, and starts a real
// Prometheus server (the Debian package prometheus) that finds them through
// deploy/prometheus/prometheus.yml. It then evaluates every query of every
// dashboard panel and template variable through Prometheus' HTTP API and
// asserts that each returns data, and forces every alert to fire.
//
//	go test -run Dashboard ./deploy/
//
// Without /usr/bin/prometheus and promtool the Prometheus tests skip, except
// in CI (the CI environment variable set), where they fail.
package deploy_test
