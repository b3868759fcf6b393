package ids

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/speps/go-hashids/v2"
)

// TestFastIsHashids checks the fast path against go-hashids itself, on
// several salts and alphabets: the id of every key up to 100,000 and of
// random keys up to the largest, and the decoding of those ids, of
// mutations of them, and of random strings of their letters.
func TestFastIsHashids(t *testing.T) {
	for _, o := range []Options{
		{Salt: "test"},
		{Salt: "a production salt, rather long, with spaces and digits 0123456789"},
		{Salt: "ünïcödé 鹽"},
		{Salt: "x", Alphabet: "0123456789abcdefghij"},
		{Salt: "salt", Alphabet: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890-_"},
		{Salt: "salt", Alphabet: "αβγδεζηθικλμνξοπρστυφχψωabcdefgh"},
		{Salt: "", Alphabet: ""},
	} {
		c, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		hd := hashids.NewData()
		hd.Salt, hd.MinLength = o.Salt, MinLength
		if o.Alphabet != "" {
			hd.Alphabet = o.Alphabet
		}
		lib, err := hashids.NewWithData(hd)
		if err != nil {
			t.Fatal(err)
		}
		if o.Salt != "" && c.f == nil {
			t.Errorf("%+v: no fast path", o)
		}
		letters := []rune(hd.Alphabet)
		rng := rand.New(rand.NewPCG(1, 2))
		keys := []int64{0, math.MaxInt64, math.MaxInt64 - 1}
		for k := int64(1); k <= 100_000; k++ {
			keys = append(keys, k)
		}
		for range 20_000 {
			keys = append(keys, rng.Int64N(math.MaxInt64))
		}
		bad := 0
		for _, k := range keys {
			want, err := lib.EncodeInt64([]int64{k})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Encode(k); got != want && bad < 10 {
				bad++
				t.Errorf("%+v: Encode(%d) = %q, want %q", o, k, got, want)
			}
			if k%7 != 0 {
				continue
			}
			// The id, and ids one letter off: changed, dropped, doubled.
			ids := []string{want}
			r := []rune(want)
			i := rng.IntN(len(r))
			changed := append([]rune{}, r...)
			changed[i] = letters[rng.IntN(len(letters))]
			ids = append(ids, string(changed), string(append(append([]rune{}, r[:i]...), r[i+1:]...)),
				string(append(append(append([]rune{}, r[:i+1]...), r[i]), r[i+1:]...)))
			for _, id := range ids {
				gk, gok := c.Decode(id)
				wk, wok := libDecode(lib, id)
				if (gk != wk || gok != wok) && bad < 10 {
					bad++
					t.Errorf("%+v: Decode(%q) = %d, %v; the library's %d, %v", o, id, gk, gok, wk, wok)
				}
			}
		}
		for range 100_000 {
			r := make([]rune, 5+rng.IntN(8))
			for i := range r {
				r[i] = letters[rng.IntN(len(letters))]
			}
			id := string(r)
			gk, gok := c.Decode(id)
			wk, wok := libDecode(lib, id)
			if (gk != wk || gok != wok) && bad < 10 {
				bad++
				t.Errorf("%+v: Decode(%q) = %d, %v; the library's %d, %v", o, id, gk, gok, wk, wok)
			}
		}
	}
}

// libDecode is Decode through go-hashids alone.
func libDecode(h *hashids.HashID, id string) (int64, bool) {
	if len(id) < MinLength || len(id) > 32 {
		return 0, false
	}
	nums, err := h.DecodeInt64WithError(id)
	if err != nil || len(nums) != 1 || nums[0] <= 0 {
		return 0, false
	}
	if again, err := h.EncodeInt64(nums); err != nil || again != id {
		return 0, false
	}
	return nums[0], true
}

func BenchmarkEncode(b *testing.B) {
	c, _ := New(Options{Salt: "test"})
	b.ReportAllocs()
	k := int64(0)
	for b.Loop() {
		k++
		_ = c.Encode(k%1_000_000 + 1)
	}
}

func BenchmarkDecode(b *testing.B) {
	c, _ := New(Options{Salt: "test"})
	id := c.Encode(123456)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Decode(id)
	}
}
