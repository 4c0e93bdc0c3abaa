package node

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the node's Prometheus series, served at GET /metrics.
type metrics struct {
	reg      *prometheus.Registry
	height   prometheus.Gauge
	round    prometheus.Gauge
	blocks   *prometheus.CounterVec
	txs      prometheus.Counter
	dropped  *prometheus.CounterVec
	submits  *prometheus.CounterVec
	interval prometheus.Histogram
}

func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.height = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vchain_dpor_height", Help: "Height of the newest final block."})
	m.round = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vchain_dpor_round", Help: "Consensus round at the height being decided (0: no impeachment under way)."})
	m.blocks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vchain_dpor_blocks_total", Help: "Final blocks inserted, by kind."}, []string{"kind"})
	m.txs = prometheus.NewCounter(prometheus.CounterOpts{Name: "vchain_dpor_transactions_total", Help: "Transactions in final blocks inserted."})
	m.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vchain_dpor_messages_dropped_total", Help: "Consensus messages the core refused, by type."}, []string{"type"})
	m.submits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vchain_dpor_submitted_transactions_total", Help: "Transactions submitted through the API, by outcome."}, []string{"outcome"})
	m.interval = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vchain_dpor_block_interval_seconds", Help: "Time between a block's timestamp and its parent's.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)})
	for _, c := range []prometheus.Collector{m.height, m.round, m.blocks, m.txs, m.dropped, m.submits, m.interval,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vchain_dpor_mempool_transactions", Help: "Transactions waiting in the mempool."},
			func() float64 { return float64(n.pool.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vchain_dpor_peers", Help: "Peers this node sends to."},
			func() float64 {
				if n.tr == nil {
					return 0
				}
				return float64(len(n.tr.Connected()))
			}),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		f(c)
	}
	return m
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }
