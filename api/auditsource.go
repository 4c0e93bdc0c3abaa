package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/vchain-dev/vchain/audit"
	"github.com/vchain-dev/vchain/snapshot"
)

// The client is where an audit reads a host's logs.
var _ audit.Source = (*Client)(nil)

// AuditCallLog implements audit.Source: the whole call log signed under
// contract id.
func (c *Client) AuditCallLog(ctx context.Context, id string) (*audit.Log, error) {
	es, err := c.CallLog(ctx, id, 0, 0, false)
	if err != nil {
		return nil, err
	}
	return auditLog(es, func(i int, e Entry) error {
		return &audit.Finding{Check: "call log", Entry: int64(i), Msg: fmt.Sprintf("host returned entry %d in place %d", e.Index, i)}
	})
}

// AuditUserLog implements audit.Source: the whole log of the user with
// key.
func (c *Client) AuditUserLog(ctx context.Context, key string) (*audit.Log, error) {
	es, err := c.UserEntries(ctx, key, 0, 0, false)
	if err != nil {
		return nil, err
	}
	return auditLog(es, func(i int, e Entry) error {
		return &audit.Finding{Check: "user log", Entry: -1, Msg: fmt.Sprintf("host returned user %s's entry %d in place %d", key, e.Index, i)}
	})
}

// auditLog is es as an audit reads it, refusing entries out of place.
func auditLog(es *Entries, misplaced func(int, Entry) error) (*audit.Log, error) {
	l := &audit.Log{Head: es.Head}
	for i, e := range es.Entries {
		if e.Index != uint64(i) {
			return nil, misplaced(i, e)
		}
		l.Entries = append(l.Entries, []byte(e.Data))
	}
	return l, nil
}

// AuditSnapshot implements audit.SnapshotSource: the contract's state
// snapshot, downloaded to a temporary file (removed once opened).
func (c *Client) AuditSnapshot(ctx context.Context, id string) (*snapshot.File, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/contracts/"+url.PathEscape(id)+"/snapshot", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("host %s unreachable: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(data))
		}
		return nil, &StatusError{Status: resp.StatusCode, Msg: eb.Error}
	}
	f, err := os.CreateTemp("", "vchain-audit-snapshot-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, io.LimitReader(resp.Body, MaxSnapshotBytes+1)); err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.Size() > MaxSnapshotBytes {
		return nil, fmt.Errorf("the host's snapshot of %s is over %d bytes", id, int64(MaxSnapshotBytes))
	}
	return snapshot.Open(f.Name())
}

// MaxSnapshotBytes bounds a contract snapshot the client downloads.
const MaxSnapshotBytes = 4 << 30
