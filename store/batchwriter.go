package store

// BatchWriter writes a stream of keys through batches of about limit
// bytes, committing each (unsynced) once it is full; Commit writes the
// last. A bulk load (a snapshot import or restore) goes through one.
type BatchWriter struct {
	begin func() Batch
	txn   Batch
	size  int
	limit int
}

// NewBatchWriter returns a writer to s in batches of about limit bytes
// (write-only batches when s is a DB).
func NewBatchWriter(s Store, limit int) *BatchWriter {
	begin := s.Begin
	if db, ok := s.(*DB); ok {
		begin = func() Batch { return db.NewWriteTxn() }
	}
	return &BatchWriter{begin: begin, limit: limit}
}

func (w *BatchWriter) batch() Batch {
	if w.txn == nil {
		w.txn = w.begin()
	}
	return w.txn
}

// Set writes a key.
func (w *BatchWriter) Set(key, value []byte) error {
	if err := w.batch().Set(key, value); err != nil {
		return err
	}
	if w.size += len(key) + len(value); w.size >= w.limit {
		return w.Commit(false)
	}
	return nil
}

// Delete deletes a key.
func (w *BatchWriter) Delete(key []byte) error { return w.batch().Delete(key) }

// Commit writes the batch being filled, fsyncing it when sync is set.
func (w *BatchWriter) Commit(sync bool) error {
	if w.txn == nil {
		return nil
	}
	err := w.txn.Commit(sync)
	w.txn, w.size = nil, 0
	return err
}

// Discard drops the batch being filled (those committed stay).
func (w *BatchWriter) Discard() {
	if w.txn != nil {
		w.txn.Discard()
		w.txn, w.size = nil, 0
	}
}
