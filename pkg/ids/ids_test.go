package ids

import (
	"testing"

	"github.com/speps/go-hashids/v2"
)

func TestRoundTrip(t *testing.T) {
	c, err := New(Options{Salt: "test salt"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, k := range []int64{1, 2, 3, 41, 1000, 1 << 40} {
		s := c.Encode(k)
		if len(s) < MinLength {
			t.Errorf("Encode(%d) = %q, shorter than %d", k, s, MinLength)
		}
		if seen[s] {
			t.Errorf("Encode(%d) = %q, already given to another key", k, s)
		}
		seen[s] = true
		got, ok := c.Decode(s)
		if !ok || got != k {
			t.Errorf("Decode(Encode(%d)) = %d, %v", k, got, ok)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	c, _ := New(Options{Salt: "test salt"})
	other, _ := New(Options{Salt: "another salt"})
	for _, s := range []string{"", "abc", "!!!!!", "00000000000000000000000000000000000", other.Encode(7), c.Encode(7) + "x"} {
		if k, ok := c.Decode(s); ok {
			t.Errorf("Decode(%q) = %d, true; want false", s, k)
		}
	}
	// Another encoding of 7 with the same salt: padded to 10 by guards and
	// the alphabet, it holds the same number, but 7's id is 5 long.
	hd := hashids.NewData()
	hd.Salt, hd.MinLength = "test salt", 10
	long, _ := hashids.NewWithData(hd)
	s, _ := long.EncodeInt64([]int64{7})
	if s == c.Encode(7) {
		t.Fatalf("%q is 7's own id", s)
	}
	if k, ok := c.Decode(s); ok {
		t.Errorf("Decode(%q) = %d, true; want false: not 7's canonical id %q", s, k, c.Encode(7))
	}
}

func TestSaltChangesIDs(t *testing.T) {
	a, _ := New(Options{Salt: "one"})
	b, _ := New(Options{Salt: "two"})
	if a.Encode(1) == b.Encode(1) {
		t.Errorf("two salts gave the same id %q", a.Encode(1))
	}
}

func TestBadAlphabet(t *testing.T) {
	if _, err := New(Options{Alphabet: "abc"}); err == nil {
		t.Error("New with a 3-letter alphabet succeeded; want an error")
	}
}
