package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"

	"github.com/vchain-dev/vchain/contract/host"
)

// ImportContentType is the media type of an import stream.
const ImportContentType = "application/x-vchain-import"

// Move asks c's host to seal contract id's call log for the host whose
// public key (hex) and URL to names: the user appends a move entry to its
// log, which the host serves with the log's last record, a moved record.
// Only the contract's creator may move it; the host refuses anyone else
// (HTTP 403) before the entry enters the log.
func (u *User) Move(ctx context.Context, c *Client, id string, to host.MovedTo) (*CallResult, error) {
	e, err := json.Marshal(host.UserEntry{Type: host.TypeMove, Contract: id, To: &to})
	if err != nil {
		return nil, err
	}
	res, err := u.submit(ctx, c, [][]byte{e})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// OlderLog is a sealed call log a contract that moved continues: the old
// contract's id and its log.
type OlderLog struct {
	From string `json:"from"`
	LogCopy
}

// writeImport writes req as an import stream: the call log, the older
// call logs it continues, then each user's log in key order.
func writeImport(w io.Writer, req *ImportRequest) error {
	iw, err := host.NewImportWriter(w, req.From, req.CallLog.Head)
	if err != nil {
		return err
	}
	for _, e := range req.CallLog.Entries {
		if err := iw.Entry([]byte(e)); err != nil {
			return err
		}
	}
	for _, o := range req.Older {
		if err := iw.Older(o.From, o.Head); err != nil {
			return err
		}
		for _, e := range o.Entries {
			if err := iw.Entry([]byte(e)); err != nil {
				return err
			}
		}
	}
	users := make([]string, 0, len(req.Users))
	for k := range req.Users {
		users = append(users, k)
	}
	sort.Strings(users)
	for _, k := range users {
		cp := req.Users[k]
		if err := iw.User(k, cp.Head); err != nil {
			return err
		}
		for _, e := range cp.Entries {
			if err := iw.Entry([]byte(e)); err != nil {
				return err
			}
		}
	}
	if req.Snapshot != nil {
		if err := iw.Snapshot(req.Snapshot.Contents()); err != nil {
			return err
		}
	}
	return iw.Close()
}

// doStream sends body as it is read and decodes a JSON answer.
func (c *Client) doStream(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	return c.send(ctx, method, path, contentType, body, 16<<20, out)
}

// CheckImportable asks the host at c whether it could take cp in, before
// the old host is asked to seal anything: a seal cannot be undone, so a
// move that would then fail must fail first. A user who used both hosts
// with one key may have a different log on each (each host holds the log
// the user wrote to it); the new host cannot merge them and would refuse
// the import, leaving the contract sealed on the old host with nowhere to
// go. It returns an error naming the first such user.
func (c *Client) CheckImportable(ctx context.Context, cp *ImportRequest) error {
	users := make([]string, 0, len(cp.Users))
	for k := range cp.Users {
		users = append(users, k)
	}
	sort.Strings(users)
	for _, k := range users {
		theirs, err := c.UserHead(ctx, k)
		if IsStatus(err, http.StatusNotFound) {
			continue // the new host has never seen this user
		}
		if err != nil {
			return fmt.Errorf("asking the new host for user %s's log: %w", k, err)
		}
		ours := cp.Users[k].Entries
		common := min(theirs.Head.Length, uint64(len(ours)))
		for i := uint64(0); i < common; {
			es, err := c.UserEntries(ctx, k, i, common, false)
			if err != nil {
				return fmt.Errorf("reading user %s's log on the new host: %w", k, err)
			}
			if len(es.Entries) == 0 {
				return fmt.Errorf("reading user %s's log on the new host: no entries from %d", k, i)
			}
			for _, e := range es.Entries {
				if e.Index != i || i >= common {
					return fmt.Errorf("reading user %s's log on the new host: entry %d where %d was asked for", k, e.Index, i)
				}
				if e.Data != ours[i] {
					return fmt.Errorf("user %s has a different log on the new host (entry %d differs: the key was used on both hosts), so the new host would refuse the import; nothing was sealed", k, i)
				}
				i++
			}
		}
	}
	return nil
}
