package file

import (
	"context"
	"fmt"
	"io"

	"github.com/vchain-dev/vchain/tape"
)

// Source is a tape.Source over a whole JSON Lines tape held in memory, for
// running an engine's Sync (with its reorg handling) over a file.
type Source struct {
	blocks []*tape.Block
}

// Load reads every block from r.
func Load(r io.Reader) (*Source, error) {
	fr := NewReader(r)
	s := &Source{}
	for {
		b, err := fr.Next()
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return nil, err
		}
		s.blocks = append(s.blocks, b)
	}
}

// Tip implements tape.Source.
func (s *Source) Tip(context.Context) (int64, error) {
	if len(s.blocks) == 0 {
		return -1, nil
	}
	return s.blocks[len(s.blocks)-1].Height, nil
}

func (s *Source) at(h int64) (*tape.Block, error) {
	if len(s.blocks) == 0 || h > s.blocks[len(s.blocks)-1].Height {
		return nil, fmt.Errorf("file: height %d: %w", h, tape.ErrNotFound)
	}
	i := h - s.blocks[0].Height
	if i < 0 {
		return nil, fmt.Errorf("file: height %d: %w", h, tape.ErrUnknown)
	}
	return s.blocks[i], nil
}

// Header implements tape.Source.
func (s *Source) Header(_ context.Context, h int64) (tape.Header, error) {
	b, err := s.at(h)
	if err != nil {
		return tape.Header{}, err
	}
	return b.Header, nil
}

// Block implements tape.Source.
func (s *Source) Block(_ context.Context, h int64) (*tape.Block, error) { return s.at(h) }
