package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/contract/host"
)

// DefaultListen is where `vchain dev` serves unless told otherwise.
const DefaultListen = "127.0.0.1:8645"

func newDevCmd() *cobra.Command {
	var datadir, listen string
	var sync, repair bool
	var cacheMiB int64
	var edge api.Edge
	cmd := &cobra.Command{
		Use:   "dev [--datadir DIR] [--listen ADDR]",
		Short: "Run a contract host with its JSON HTTP API (no setup: data in ./.vchain)",
		Long: `dev starts an auditable contract host: users deploy JavaScript contracts and call them
through signed logs, and anyone can audit the host with 'vchain audit'. Its data lives in
--datadir (default ./.vchain); the API listens on --listen (default 127.0.0.1:8645).

The API answers only requests addressed to it (a loopback name or the listen address in the
Host header; more with --allow-host), takes POST bodies only as application/json, and bounds
slow clients (--read-timeout, --write-timeout, --idle-timeout) and open connections
(--max-conns, and --max-conns-per-ip for each remote address). An address other machines can
reach needs --public.

Try it:
  vchain dev &
  id=$(vchain contract deploy examples/forum.js)
  vchain contract call $id addTopic '"Hello world"'
  vchain contract call $id addPost 1 '"My name is bob"'
  vchain contract state $id /topics/1/title
  vchain audit --contract $id`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logger()
			if err != nil {
				return err
			}
			tuneGC(2 << 30)
			// The address is checked (and bound) before the data directory
			// is touched: a refused --listen changes nothing on disk. No
			// request is served before the host is open.
			var handler http.Handler
			edge.Addr = listen
			srv, ln, err := edge.Open(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
			if errors.Is(err, api.ErrNotLoopback) {
				return fmt.Errorf("--listen %w; add --public to serve them", err)
			} else if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			h, err := host.Open(host.Config{Dir: datadir, Sync: sync, Repair: repair, Logger: log, CacheBytes: cacheMiB << 20,
				ReservedFDs: cmp.Or(edge.MaxConns, api.DefaultMaxConns) + 16}) // a descriptor per connection, a few more
			if err != nil {
				ln.Close()
				return err
			}
			defer h.Close()
			handler = api.NewServer(h, log)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "vchain dev: contract host on http://%s (data in %s)\n", ln.Addr(), datadir)
			fmt.Fprintf(out, "  host key %x\n", h.PublicKey())
			fmt.Fprintf(out, "  %d contracts; API under http://%s/v1/\n", len(h.Contracts()), ln.Addr())
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				if !errors.Is(err, http.ErrServerClosed) {
					return err
				}
			case <-cmd.Context().Done():
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(ctx)
				fmt.Fprintln(out, "vchain dev: stopped")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&datadir, "datadir", ".vchain", "the host's data directory")
	cmd.Flags().StringVar(&listen, "listen", DefaultListen, "address of the HTTP API")
	cmd.Flags().Int64Var(&cacheMiB, "cache", 1024, "block cache of the state store, in MiB (allocated as it fills)")
	cmd.Flags().BoolVar(&sync, "sync", false, "fsync every answered call (survives power loss, not just a killed process)")
	cmd.Flags().BoolVar(&repair, "repair", false, "cut logs whose files were damaged back to what they hold intact, losing the signed entries after it (the damaged files are kept in a damaged-N directory); without it a damaged log stops the start")
	edgeFlags(cmd, &edge)
	return cmd
}

// edgeFlags registers the flags that set an API server's edge.
func edgeFlags(cmd *cobra.Command, e *api.Edge) {
	f := cmd.Flags()
	f.BoolVar(&e.Public, "public", false, "allow a --listen address other machines can reach (e.g. 0.0.0.0:8645)")
	f.StringSliceVar(&e.AllowHosts, "allow-host", nil, "also answer requests whose Host header is this NAME or NAME:PORT (repeatable; * for any)")
	f.DurationVar(&e.ReadTimeout, "read-timeout", api.DefaultReadTimeout, "close a connection that has not sent its whole request in this time")
	f.DurationVar(&e.WriteTimeout, "write-timeout", api.DefaultWriteTimeout, "close a connection whose answer is not written in this time")
	f.DurationVar(&e.IdleTimeout, "idle-timeout", api.DefaultIdleTimeout, "close a kept-alive connection idle this long")
	f.IntVar(&e.MaxConns, "max-conns", api.DefaultMaxConns, "most connections open at once (more wait)")
	f.IntVar(&e.MaxConnsPerIP, "max-conns-per-ip", api.DefaultMaxConnsPerIP, "most connections one non-loopback address may hold open (more are closed)")
}
