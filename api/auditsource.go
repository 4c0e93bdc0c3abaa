package api

import (
	"context"
	"fmt"

	"github.com/vchain-dev/vchain/audit"
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
	l := &audit.Log{Head: es.Head}
	for i, e := range es.Entries {
		if e.Index != uint64(i) {
			return nil, &audit.Finding{Check: "call log", Entry: int64(i), Msg: fmt.Sprintf("host returned entry %d in place %d", e.Index, i)}
		}
		l.Entries = append(l.Entries, []byte(e.Data))
	}
	return l, nil
}

// AuditUserLog implements audit.Source: the whole log of the user with
// key.
func (c *Client) AuditUserLog(ctx context.Context, key string) (*audit.Log, error) {
	es, err := c.UserEntries(ctx, key, 0, 0, false)
	if err != nil {
		return nil, err
	}
	l := &audit.Log{Head: es.Head}
	for i, e := range es.Entries {
		if e.Index != uint64(i) {
			return nil, &audit.Finding{Check: "user log", Entry: -1, Msg: fmt.Sprintf("host returned user %s's entry %d in place %d", key, e.Index, i)}
		}
		l.Entries = append(l.Entries, []byte(e.Data))
	}
	return l, nil
}
