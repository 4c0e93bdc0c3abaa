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
	stage    *prometheus.HistogramVec
	ready    prometheus.Counter
	resent   prometheus.Counter
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
	m.stage = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vchain_dpor_stage_seconds",
		Help: "Time each step of making a block takes on this node: check_proposal (a validator runs a proposal), " +
			"insert (a final block applied and committed), persist_votes (a vote record written), " +
			"build (a proposer selects, verifies and runs its block's transactions), " +
			"speculate (the next proposer runs a proposal ahead), preverify (a validator checks gossiped signatures), " +
			"admit_gossip (a proposer admits the transactions a peer sent), " +
			"ready_to_propose (from the parent's insert to this node's proposal, when it proposes next).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"stage"})
	m.ready = prometheus.NewCounter(prometheus.CounterOpts{Name: "vchain_dpor_blocks_ready_total",
		Help: "Final blocks whose state changes were ready when they became final: a validator's check of the proposal, or the next proposer running it ahead."})
	m.resent = prometheus.NewCounter(prometheus.CounterOpts{Name: "vchain_dpor_transactions_resent_total",
		Help: "Pooled transactions this node sent to the next proposers again (it does not propose them itself and they were not final a while after it took them)."})
	for _, c := range []prometheus.Collector{m.height, m.round, m.blocks, m.txs, m.dropped, m.submits, m.interval, m.stage, m.ready, m.resent,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vchain_dpor_signatures_checked_total", Help: "Transaction signatures this node verified."},
			func() float64 { return float64(n.chain.SignaturesChecked()) }),
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
