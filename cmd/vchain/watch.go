package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vchain-dev/vchain/api"
	"github.com/vchain-dev/vchain/dpor/localnet"
	"github.com/vchain-dev/vchain/events"
)

func newWatchCmd() *cobra.Command {
	var rpc, hostURL, after, kind, app, contract, name string
	var once bool
	cmd := &cobra.Command{
		Use:   "watch --rpc URL | --host URL [--after CURSOR] [--kind K1,K2]",
		Short: "Print a node's events as JSON lines, from a cursor on, as they happen",
		Long: `watch follows the event log of a DPoR node, of an engine node (vchain node --http), or of
a contract host (--host: a "call" event per call log record, with result, gas, state root and
consensus hash): blocks, impeach blocks and elections, ops accepted and rejected (with the
reason), reverts. Each
line's "seq" is its cursor: --after SEQ resumes right after it, with nothing lost or repeated,
whichever side restarted in between. --once prints what there is and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rpc == "" && hostURL == "" || rpc != "" && hostURL != "" {
				return fmt.Errorf("give --rpc URL (a DPoR node's API, or vchain node's --http address) or --host URL (a contract host)")
			}
			if rpc == "" {
				rpc = hostURL
			}
			base := strings.TrimSuffix(rpc, "/")
			if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
				base = "http://" + base
			}
			cursor, err := events.ParseCursor(after)
			if err != nil {
				return fmt.Errorf("--after: %w", err)
			}
			c := httpClient()
			c.Timeout = events.MaxWait + 15*time.Second
			for {
				q := url.Values{"after": {fmt.Sprint(cursor)}}
				if !once {
					q.Set("wait", "25s")
				}
				for k, v := range map[string]string{"kind": kind, "app": app, "contract": contract, "name": name} {
					if v != "" {
						q.Set(k, v)
					}
				}
				var page events.Page
				if err := localnet.GetJSON(c, base+"/v1/events?"+q.Encode(), &page); err != nil {
					if ctxErr := cmd.Context().Err(); ctxErr != nil {
						return nil
					}
					return err
				}
				for i := range page.Events {
					b, _ := json.Marshal(&page.Events[i])
					fmt.Fprintln(cmd.OutOrStdout(), string(b))
				}
				next, err := events.ParseCursor(page.Next)
				if err != nil {
					return fmt.Errorf("the node's next cursor: %w", err)
				}
				cursor = next
				if once && len(page.Events) == 0 {
					return nil
				}
				if cmd.Context().Err() != nil {
					return nil
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&rpc, "rpc", "", "the node's API (http://HOST:PORT)")
	f.StringVar(&hostURL, "host", "", "a contract host (http://HOST:PORT)")
	f.StringVar(&after, "after", "", "resume after this cursor (an event's seq)")
	f.StringVar(&kind, "kind", "", "only these kinds: block, impeach, election, op, rejected, revert (comma-separated)")
	f.StringVar(&app, "app", "", "only this application's events")
	f.StringVar(&contract, "contract", "", "only events about this contract")
	f.StringVar(&name, "name", "", "only events about this name")
	f.BoolVar(&once, "once", false, "print the events there are and exit")
	return cmd
}

// eventsTip pages through a host's events about contract id and returns
// the cursor after the last one.
func eventsTip(hostURL, id string) (uint64, error) {
	base, err := api.ParseBaseURL(hostURL)
	if err != nil {
		return 0, fmt.Errorf("--host: %w", err)
	}
	var cursor uint64
	for {
		var page events.Page
		q := url.Values{"after": {fmt.Sprint(cursor)}, "contract": {id}}
		if err := localnet.GetJSON(httpClient(), base+"/v1/events?"+q.Encode(), &page); err != nil {
			return 0, err
		}
		next, err := events.ParseCursor(page.Next)
		if err != nil {
			return 0, err
		}
		if next == cursor {
			return cursor, nil
		}
		cursor = next
	}
}

// waitEvents long-polls a host for events about contract id after the
// cursor and returns the cursor after them.
func waitEvents(cmd *cobra.Command, hostURL, id string, cursor uint64) (uint64, error) {
	base, err := api.ParseBaseURL(hostURL)
	if err != nil {
		return 0, err
	}
	c := httpClient()
	c.Timeout = events.MaxWait + 15*time.Second
	for {
		var page events.Page
		q := url.Values{"after": {fmt.Sprint(cursor)}, "contract": {id}, "wait": {"25s"}}
		if err := localnet.GetJSON(c, base+"/v1/events?"+q.Encode(), &page); err != nil {
			return cursor, err
		}
		next, err := events.ParseCursor(page.Next)
		if err != nil {
			return cursor, err
		}
		cursor = next
		if len(page.Events) > 0 || cmd.Context().Err() != nil {
			return cursor, nil
		}
	}
}
