package data

// Packed is a fixed-length row holding several sequences back to back.
type Packed struct {
	IDs    []int32
	Labels []int32
	// Starts holds the offset of each sequence in the row, so that a trainer
	// can restart positions and mask attention at the boundaries. Padding
	// after the last sequence starts at Used.
	Starts []int
	Used   int
}

// Packer packs sequences, in order, into rows of Length tokens. A sequence
// that does not fit in the current row starts the next one; a sequence
// longer than a row is cut to it. The first label of every sequence is
// IgnoreIndex, so that no loss is taken on predicting one example's first
// token from the end of another; padding uses PadID with IgnoreIndex
// labels.
type Packer struct {
	Length    int
	PadID     int32
	Truncated int // sequences that were cut to fit a row
	cur       *Packed
}

// Add packs s and returns the rows it completed (at most one).
func (p *Packer) Add(s Sequence) []Packed {
	var done []Packed
	n := len(s.IDs)
	if n == 0 {
		return nil
	}
	if n > p.Length {
		n = p.Length
		p.Truncated++
	}
	if p.cur != nil && p.cur.Used+n > p.Length {
		done = append(done, p.finish())
	}
	if p.cur == nil {
		p.cur = &Packed{IDs: make([]int32, 0, p.Length), Labels: make([]int32, 0, p.Length)}
	}
	c := p.cur
	c.Starts = append(c.Starts, c.Used)
	c.IDs = append(c.IDs, s.IDs[:n]...)
	c.Labels = append(c.Labels, s.Labels[:n]...)
	c.Labels[c.Used] = IgnoreIndex
	c.Used += n
	if c.Used == p.Length {
		done = append(done, p.finish())
	}
	return done
}

// Flush returns the last, partly filled row, if any.
func (p *Packer) Flush() []Packed {
	if p.cur == nil {
		return nil
	}
	return []Packed{p.finish()}
}

func (p *Packer) finish() Packed {
	c := p.cur
	p.cur = nil
	for len(c.IDs) < p.Length {
		c.IDs = append(c.IDs, p.PadID)
		c.Labels = append(c.Labels, IgnoreIndex)
	}
	return *c
}
