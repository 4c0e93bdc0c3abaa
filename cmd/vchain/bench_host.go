package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/contract/host"
)

func newBenchHostCmd() *cobra.Command {
	var clients, calls int
	var batches []int
	var fsync bool
	var dir, codePath, cpuProfile string
	cmd := &cobra.Command{
		Use:   "host",
		Short: "Signed calls per second end to end through the API: forum addPost from concurrent clients",
		Long: `host starts a contract host with its HTTP API on a loopback port, deploys the forum
contract, and has --clients users (each its own key and signed user log) call addPost
--calls times in total, as fast as answers come back. Every call is signed by its user,
checked by the host, run, logged in the call log and the user log (written to the OS
before the answer; fsynced too with --sync), and answered with a signed head that the client
verifies. With --batch N a client puts N calls in one request, signed under one head of its
log (as hypercore batches appends). It prints calls/s and the p50 and p99 latency of a call.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			code, err := os.ReadFile(codePath)
			if err != nil {
				return err
			}
			tuneGC(2 << 30)
			d, err := os.MkdirTemp(dir, "vchain-bench-host-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(d)
			h, err := host.Open(host.Config{Dir: filepath.Join(d, "host"), Sync: fsync})
			if err != nil {
				return err
			}
			defer h.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: api.NewServer(h, nil)}
			go srv.Serve(ln)
			defer srv.Close()
			c := api.NewClient("http://" + ln.Addr().String())

			users := make([]*api.User, clients)
			for i := range users {
				_, priv, _ := ed25519.GenerateKey(nil)
				users[i] = api.NewUser(priv)
			}
			res, err := users[0].Deploy(ctx, c, code)
			if err != nil {
				return err
			}
			id := res.Contract
			if _, err := users[0].Call(ctx, c, id, "addTopic", json.RawMessage(`"bench"`)); err != nil {
				return err
			}
			// Warm up: every user's first call creates its log.
			for _, u := range users {
				if _, err := u.Call(ctx, c, id, "addPost", json.RawMessage("1"), json.RawMessage(`"warm"`)); err != nil {
					return err
				}
			}

			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				pprof.StartCPUProfile(f)
				defer pprof.StopCPUProfile()
			}
			for _, batch := range batches {
				if err := benchHostPhase(ctx, out, c, id, users, calls, batch, fsync); err != nil {
					return err
				}
			}
			info, err := c.Contract(context.Background(), id)
			if err == nil {
				fmt.Fprintf(out, "call log length %d, consensus %s\n", info.Head.Length, info.Consensus)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&clients, "clients", 8, "concurrent clients, each its own user")
	cmd.Flags().IntVar(&calls, "calls", 40000, "calls in total, per batch size")
	cmd.Flags().IntSliceVar(&batches, "batch", []int{1, 64}, "calls per request (each request: the client signs its log head once); one run per value")
	cmd.Flags().BoolVar(&fsync, "sync", false, "fsync logs before answering")
	cmd.Flags().StringVar(&dir, "dir", "", "where to put the host's data (default: the system temp dir)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the measured part to this file")
	cmd.Flags().StringVar(&codePath, "contract", filepath.Join("examples", "forum.js"), "the forum contract")
	return cmd
}

// benchHostPhase runs calls addPost calls from users, batch calls per
// request, and prints throughput and latency.
func benchHostPhase(ctx context.Context, out io.Writer, c *api.Client, id string, users []*api.User, calls, batch int, fsync bool) error {
	clients := len(users)
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	start := time.Now()
	for i, u := range users {
		n := calls / clients
		if i < calls%clients {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls := make([]time.Duration, 0, n)
			for k := 0; k < n; k += batch {
				specs := make([]api.CallSpec, 0, batch)
				for j := k; j < n && j < k+batch; j++ {
					specs = append(specs, api.CallSpec{Contract: id, Method: "addPost",
						Args: []json.RawMessage{json.RawMessage("1"), json.RawMessage(fmt.Sprintf(`"post %d of client %d: the quick brown fox"`, j, i))}})
				}
				t0 := time.Now()
				rs, err := u.CallMany(ctx, c, specs)
				if err == nil {
					for _, r := range rs {
						if err = r.Failed(); err != nil {
							break
						}
					}
				}
				if err != nil {
					errc <- err
					return
				}
				d := time.Since(t0)
				for range rs {
					ls = append(ls, d)
				}
			}
			lat[i] = ls
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
	fmt.Fprintf(out, "forum addPost through the API: %d clients, %d calls per request, %d signed calls in %v (sync=%v)\n",
		clients, batch, len(all), elapsed.Round(time.Millisecond), fsync)
	fmt.Fprintf(out, "  throughput: %.0f calls/s\n", float64(len(all))/elapsed.Seconds())
	fmt.Fprintf(out, "  latency: p50 %v, p99 %v, max %v\n", pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), all[len(all)-1].Round(time.Microsecond))
	return nil
}
