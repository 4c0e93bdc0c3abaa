package btcbench

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Pin restricts every thread of process pid (0: this process) to one CPU;
// threads started later inherit it. Pinning btcd to one CPU and vchain to
// another keeps the node serving at the same pace whatever vchain does
// with its own CPU, as a node on its own machine would.
func Pin(pid, cpu int) error {
	if pid == 0 {
		pid = os.Getpid()
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	var set unix.CPUSet
	set.Set(cpu)
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pinning thread %d of %d to CPU %d: %w", tid, pid, cpu, err)
		}
	}
	return nil
}
