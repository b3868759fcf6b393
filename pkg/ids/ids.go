// Package ids implements the opaque identifiers of the API: the database's
// integer keys, encoded as short Hashids strings ("ByE3n").
package ids

import (
	"fmt"

	"github.com/speps/go-hashids/v2"
)

// MinLength is the shortest id the API hands out.
const MinLength = 5

// Codec encodes and decodes identifiers. It is safe for concurrent use.
type Codec struct {
	h *hashids.HashID
}

// Options configure a Codec.
type Options struct {
	// Salt makes this deployment's ids its own. If empty, ids are
	// predictable from the keys: set one in production.
	Salt string
	// Alphabet of the encoded ids. If empty, Hashids' default (a–z, A–Z,
	// 0–9) is used.
	Alphabet string
}

// New returns a Codec for opts.
func New(opts Options) (*Codec, error) {
	hd := hashids.NewData()
	hd.Salt = opts.Salt
	hd.MinLength = MinLength
	if opts.Alphabet != "" {
		hd.Alphabet = opts.Alphabet
	}
	h, err := hashids.NewWithData(hd)
	if err != nil {
		return nil, fmt.Errorf("id encoder: %w", err)
	}
	return &Codec{h: h}, nil
}

// Encode returns the public form of key (a positive database key).
func (c *Codec) Encode(key int64) string {
	s, err := c.h.EncodeInt64([]int64{key})
	if err != nil {
		// Only negative numbers fail, and keys are never negative.
		panic(fmt.Sprintf("ids: cannot encode %d: %v", key, err))
	}
	return s
}

// Decode returns the key an id stands for. ok is false for any string that
// is not exactly the encoding of one positive key; such an id names nothing.
func (c *Codec) Decode(id string) (key int64, ok bool) {
	if len(id) < MinLength || len(id) > 32 {
		return 0, false
	}
	// Several strings can decode to one number; only the canonical one
	// counts: DecodeInt64WithError encodes what it decoded again and fails
	// unless that is id.
	nums, err := c.h.DecodeInt64WithError(id)
	if err != nil || len(nums) != 1 || nums[0] <= 0 {
		return 0, false
	}
	return nums[0], true
}
