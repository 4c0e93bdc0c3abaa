package p2p

// Counts reports the accepted connections: open (handshaking or not),
// still in their handshake, authenticated strangers, and the
// authenticated connections ever admitted.
func (t *Transport) Counts() (open, pending, strangers, accepted int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open, t.pending, t.strangers, t.accepted
}

// ConnsOf is how many authenticated connections key k has open.
func (t *Transport) ConnsOf(k []byte) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey[string(k)])
}
