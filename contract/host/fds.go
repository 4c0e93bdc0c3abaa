package host

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// The descriptor budget: what the host keeps open, checked at Open
// against RLIMIT_NOFILE so that the host reaches its own limits (ErrBusy)
// before the process runs out of descriptors (EMFILE, which would fail
// whatever request happens to open a file next).
const (
	// logFDs is what an open writable log holds: data, tree, heads and
	// its lock file. A contract keeps its call log open; so does each
	// user log in the cache.
	logFDs = 4
	// oldLogFDs is what a migrated contract's old call log holds (read
	// only, no lock).
	oldLogFDs = 3
	// storeFDs is the state store's share beyond one descriptor per table
	// it holds at start: its WAL, manifest, lock and the tables that
	// flushes and compactions write.
	storeFDs = 64
	// storeMaxTables bounds the table files the store keeps open
	// (store.Options.MaxOpenFiles): the budget counts the tables found at
	// start plus headroom, up to this bound, so a store that grows after
	// start cannot take more than the bound.
	storeMaxTables     = 128
	storeTableHeadroom = 32
	// transientFDs covers what requests and the start open for a moment:
	// pending markers, logs built aside, origin files, the logs the start
	// checks in parallel, internal readers beyond the cache.
	transientFDs = 32
	// unknownFDs stands for what the process holds already where it
	// cannot be counted.
	unknownFDs = 16
	// minOpenUserLogs is the floor the user log cache is lowered to when
	// descriptors are short.
	minOpenUserLogs = 8
)

// budgetFDs fits cfg.MaxContracts and cfg.MaxOpenUserLogs to the
// process's descriptor limit: when the limit cannot cover them it lowers
// them (user logs to at most a quarter of what is left, not below
// minOpenUserLogs; contracts to the rest) and warns. It refuses when even
// the floor leaves no room for the contracts already in cfg.Dir, which
// must all open their call logs at start.
func budgetFDs(cfg *Config, log *slog.Logger) error {
	limit, ok := fdLimit()
	if !ok {
		return nil
	}
	held := openFDCount()
	if held < 0 {
		held = unknownFDs
	}
	existing, oldLogs, tables := onDisk(cfg.Dir)
	fixed := held + storeFDs + min(tables+storeTableHeadroom, storeMaxTables) + transientFDs + max(cfg.ReservedFDs, 0) + oldLogs*oldLogFDs
	full := fixed + cfg.MaxOpenUserLogs*logFDs + max(cfg.MaxContracts, existing)*logFDs
	if full <= limit {
		return nil
	}
	avail := limit - fixed // for user logs and call logs
	floor := min(cfg.MaxOpenUserLogs, minOpenUserLogs)
	users := min(cfg.MaxOpenUserLogs, max(floor, avail/4/logFDs))
	if (avail-users*logFDs)/logFDs < existing {
		users = min(users, max(floor, (avail-existing*logFDs)/logFDs))
	}
	contracts := (avail - users*logFDs) / logFDs
	if contracts < existing || contracts < 1 {
		return fmt.Errorf("host: the process may open %d files (RLIMIT_NOFILE), too few for the %d contracts in %s: their call logs, %d user logs, the store and %d descriptors reserved for connections need %d; raise the limit (ulimit -n %d) and start again",
			limit, existing, cfg.Dir, floor, cfg.ReservedFDs, fixed+(existing+floor)*logFDs, full)
	}
	log.Warn(fmt.Sprintf("host: the process may open %d files (RLIMIT_NOFILE), too few for %d contracts and %d open user logs; running at most %d contracts with %d user logs open (creates beyond get busy); for the full configuration raise the limit (ulimit -n %d)",
		limit, cfg.MaxContracts, cfg.MaxOpenUserLogs, contracts, users, full),
		"limit", limit, "need", full, "held", held, "reservedFDs", cfg.ReservedFDs,
		"maxContracts", cfg.MaxContracts, "effectiveMaxContracts", contracts,
		"maxOpenUserLogs", cfg.MaxOpenUserLogs, "effectiveMaxOpenUserLogs", users)
	cfg.MaxContracts = min(cfg.MaxContracts, contracts)
	cfg.MaxOpenUserLogs = users
	return nil
}

// onDisk counts, in a host directory, the contracts (each opens its call
// log at start), their old call logs (migrated contracts keep them open)
// and the store's tables.
func onDisk(dir string) (contracts, oldLogs, tables int) {
	ents, _ := os.ReadDir(filepath.Join(dir, "contracts"))
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		contracts++
		for i := 0; ; i++ {
			if _, err := os.Stat(filepath.Join(dir, "contracts", e.Name(), oldLogDir(i))); err != nil {
				break
			}
			oldLogs++
		}
	}
	sts, _ := os.ReadDir(filepath.Join(dir, "state"))
	for _, e := range sts {
		if strings.HasSuffix(e.Name(), ".sst") {
			tables++
		}
	}
	return contracts, oldLogs, tables
}

// errOutOfFDsMsg says what running out of descriptors means, so that it is
// never taken for damage.
const errOutOfFDsMsg = "the host process ran out of file descriptors (nothing on disk is damaged): raise its limit (ulimit -n) or lower MaxContracts, MaxOpenUserLogs or the connections it serves"

// busyIfOutOfFDs turns descriptor exhaustion into ErrBusy (a request can
// succeed once descriptors free up); other errors pass unchanged.
func busyIfOutOfFDs(err error) error {
	if err == nil || !outOfFDs(err) {
		return err
	}
	return refuse(ErrBusy, "%v; %s", err, errOutOfFDsMsg)
}
