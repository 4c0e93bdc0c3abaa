package contract

import (
	"fmt"
	"runtime/metrics"
	"sync"
	"time"
)

// The watchdog enforces the two backstops that gas cannot: wall-clock time
// (Limits.Timeout) and heap growth (Limits.MaxHeapBytes). One goroutine
// wakes every watchdogTick while calls are running, samples the process
// heap, and interrupts calls past their deadline or heap allowance. Both
// verdicts (Timeout, MemoryLimit) depend on the machine and its load, so
// they are not deterministic; the heap sample is process-wide, so a call may
// also be blamed for memory other goroutines allocate.

const (
	watchdogTick = 5 * time.Millisecond
	// watchdogLinger keeps the goroutine alive between bursts of calls.
	watchdogLinger = 200
	heapMetric     = "/memory/classes/heap/objects:bytes"
)

type watch struct {
	deadline time.Time // zero: no timeout
	heapBase uint64
	heapMax  int64 // <= 0: no heap limit
	timeout  time.Duration
}

type watchdog struct {
	mu      sync.Mutex
	calls   map[*instance]watch
	running bool
	heap    uint64 // last sample
	sample  []metrics.Sample
}

var wd = &watchdog{calls: map[*instance]watch{}, sample: []metrics.Sample{{Name: heapMetric}}}

func (w *watchdog) readHeap() uint64 {
	metrics.Read(w.sample)
	if w.sample[0].Value.Kind() == metrics.KindUint64 {
		return w.sample[0].Value.Uint64()
	}
	return 0
}

// add starts watching in's current call.
func (w *watchdog) add(in *instance) {
	l := in.limits
	if l.Timeout < 0 && l.MaxHeapBytes < 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running {
		w.heap = w.readHeap()
		w.running = true
		go w.loop()
	}
	wt := watch{heapBase: w.heap, heapMax: l.MaxHeapBytes, timeout: l.Timeout}
	if l.Timeout > 0 {
		wt.deadline = time.Now().Add(l.Timeout)
	}
	w.calls[in] = wt
}

// remove stops watching in; after it returns in is never interrupted.
func (w *watchdog) remove(in *instance) {
	w.mu.Lock()
	delete(w.calls, in)
	w.mu.Unlock()
}

func (w *watchdog) loop() {
	idle := 0
	for {
		time.Sleep(watchdogTick)
		w.mu.Lock()
		if len(w.calls) == 0 {
			if idle++; idle >= watchdogLinger {
				w.running = false
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			continue
		}
		idle = 0
		w.heap = w.readHeap()
		now := time.Now()
		for in, wt := range w.calls {
			switch {
			case !wt.deadline.IsZero() && now.After(wt.deadline):
				in.interruptFrom(&CallError{Code: Timeout, Message: fmt.Sprintf("wall-clock limit %v reached", wt.timeout)})
			case wt.heapMax > 0 && w.heap > wt.heapBase && w.heap-wt.heapBase > uint64(wt.heapMax):
				in.interruptFrom(&CallError{Code: MemoryLimit, Message: fmt.Sprintf("heap grew by more than %d bytes", wt.heapMax)})
			}
		}
		w.mu.Unlock()
	}
}
